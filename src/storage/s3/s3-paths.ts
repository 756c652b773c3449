/**
 * The bucket layout of the S3 backend, documented once, where every key is built. `<prefix>`
 * is the path of `s3://<bucket>/<prefix>` without slashes at either end (it may be empty).
 *
 *   <prefix>/blobs/<algorithm>/<first two hex>/<hex>   content, by digest: the same layout as the
 *                                                       filesystem (paths.ts); only ever written
 *                                                       whole with bytes already checked against
 *                                                       the digest (PutObject, or a multipart
 *                                                       upload assembled by server-side copies)
 *   <prefix>/ingest/<writer id>/<index>                 pieces of a BlobWriter's bytes until commit
 *   <prefix>/uploads/<session id>/state                 an upload session: JSON with its size, a
 *                                                       version and its pieces in order; written
 *                                                       last by every append (its commit point)
 *   <prefix>/uploads/<session id>/p/<index>-<token>     pieces of an upload session; the token is
 *                                                       new for every append, so an append that
 *                                                       failed (or a late one) never overwrites a
 *                                                       piece the state lists
 *   <prefix>/trash/<algorithm>/<hex>/<token>            a copy GC keeps of content it removes
 *                                                       until it has re-checked the index
 *
 * Pieces are >= 5 MiB (S3's smallest multipart part) except the last one of a session or writer,
 * so they can be assembled into the content object with UploadPartCopy. Multipart uploads exist
 * only while content is assembled under its blobs/ key; GC aborts abandoned ones.
 */
import { digestAlgorithm, digestHex, type Digest } from '../../primitives/types.js';

/** `s3://bucket/a/b/` → `a/b`; the prefix every key starts with (plus a slash when not empty). */
export function normalizePrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '');
}

export class S3Paths {
  private readonly root: string;

  constructor(prefix: string) {
    const p = normalizePrefix(prefix);
    this.root = p === '' ? '' : `${p}/`;
  }

  /** Every key of this store starts with this (for listings of multipart uploads). */
  get all(): string {
    return this.root;
  }

  blob(digest: Digest): string {
    const hex = digestHex(digest);
    return `${this.root}blobs/${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}`;
  }

  get blobs(): string {
    return `${this.root}blobs/`;
  }

  /** The digest a blobs/ key holds, or undefined for a key that is not one. */
  digestOf(key: string): Digest | undefined {
    const m = /^blobs\/(sha256|sha512)\/([a-f0-9]{2})\/([a-f0-9]+)$/.exec(key.slice(this.root.length));
    if (!m || !key.startsWith(this.root) || m[3]?.slice(0, 2) !== m[2]) return undefined;
    return `${m[1]}:${m[3]}` as Digest;
  }

  get ingest(): string {
    return `${this.root}ingest/`;
  }

  ingestDir(writerId: string): string {
    return `${this.root}ingest/${writerId}/`;
  }

  ingestPiece(writerId: string, index: number): string {
    return `${this.ingestDir(writerId)}${pad(index)}`;
  }

  get uploads(): string {
    return `${this.root}uploads/`;
  }

  uploadDir(id: string): string {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new Error(`invalid upload session id ${JSON.stringify(id.slice(0, 140))}`);
    return `${this.root}uploads/${id}/`;
  }

  uploadState(id: string): string {
    return `${this.uploadDir(id)}state`;
  }

  uploadPiece(id: string, index: number, token: string): string {
    return `${this.uploadDir(id)}p/${pad(index)}-${token}`;
  }

  /** The session id of an uploads/<id>/state key, or undefined. */
  sessionOfState(key: string): string | undefined {
    const m = /^uploads\/([A-Za-z0-9_-]{1,128})\/state$/.exec(key.slice(this.root.length));
    return key.startsWith(this.root) ? m?.[1] : undefined;
  }

  get trash(): string {
    return `${this.root}trash/`;
  }

  trashOf(digest: Digest, token: string): string {
    return `${this.root}trash/${digestAlgorithm(digest)}/${digestHex(digest)}/${token}`;
  }
}

/** Zero-padded so keys list in piece order (10,000 is S3's most parts per upload). */
function pad(index: number): string {
  return String(index).padStart(5, '0');
}
