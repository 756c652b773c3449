/**
 * A BlobWriter into the bucket: bytes are hashed as they pass and stored as pieces under the
 * writer's ingest/ directory (piece-spool.ts), never under a digest key. commit checks the
 * digest, then writes the content object under its digest key in one step that only ever
 * holds the checked bytes: a PutObject of the bytes for content smaller than a piece (no copy
 * at all), otherwise a multipart upload of server-side UploadPartCopy's of the pieces,
 * completed only once every part was copied. Each commit writes the object anew, so its
 * LastModified moves even when the content was already stored (the GC grace relies on it).
 *
 * Why pieces rather than one multipart upload under an ingest key: parts of an unfinished
 * multipart upload cannot be read back, pieces can (readAt, for clients following a proxy
 * download as it grows, and for a waiter on another replica in issue 18), and either way the
 * object must reach its digest key through one server-side copy, since S3 has no rename.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { digestAlgorithm, type Digest } from '../../primitives/types.js';
import type { BlobWriter } from '../blob-store.js';
import { BlobDigestMismatchError } from '../storage-errors.js';
import { hashPieces } from './hash-pieces.js';
import { spoolPieces } from './piece-spool.js';
import type { Piece, S3Bucket } from './s3-bucket.js';
import type { S3Paths } from './s3-paths.js';
import type { S3Tuning } from './s3-tuning.js';

export class S3BlobWriter implements BlobWriter {
  private readonly id = randomUUID();
  private hash = createHash('sha256');
  private readonly pieces: Piece[] = [];
  /** Bytes after the stored pieces, held until the next write or commit (< partSize). */
  private rest: Buffer = Buffer.alloc(0);
  private stored = 0;
  private total = 0;
  private state: 'open' | 'writing' | 'committing' | 'done' = 'open';

  constructor(
    private readonly bucket: S3Bucket,
    private readonly paths: S3Paths,
    private readonly tuning: S3Tuning,
  ) {}

  get size(): number {
    return this.total;
  }

  async write(source: Readable, options: { limit?: number; landed?: (total: number) => void } = {}): Promise<number> {
    if (this.state !== 'open') throw new Error(`cannot write to a blob writer that is ${this.state}`);
    this.state = 'writing';
    const before = this.stored;
    const firstIndex = this.pieces.length;
    // A write that fails leaves the writer where it was: hash, pieces and rest as before it.
    const hashBefore = this.hash.copy();
    const restBefore = this.rest;
    const written: string[] = [];
    try {
      const result = await spoolPieces(this.bucket, source, {
        partSize: this.tuning.partSize,
        inFlight: this.tuning.inFlight,
        head: this.rest,
        hash: this.hash,
        limit: options.limit,
        keyFor: (i) => {
          const key = this.paths.ingestPiece(this.id, firstIndex + i);
          written.push(key);
          return key;
        },
        stored: (piece, bytes) => {
          this.pieces.push(piece);
          this.stored = before + bytes;
          options.landed?.(this.stored);
        },
      });
      this.rest = Buffer.from(result.rest);
      this.total += result.sourceBytes;
      this.state = 'open';
      // The rest is readable through readAt from memory: it counts as landed.
      if (this.total > this.stored) options.landed?.(this.total);
      return result.sourceBytes;
    } catch (err) {
      this.hash = hashBefore;
      this.rest = restBefore;
      this.pieces.length = firstIndex;
      this.stored = before;
      this.state = 'open';
      // Pieces of the failed write would be overwritten by the next one; deleted all the same.
      await this.bucket.deleteMany(written).catch(() => undefined);
      throw err;
    }
  }

  readonly readAt = async (buffer: Buffer, position: number, length: number): Promise<number> => {
    if (position >= this.stored) {
      // Between writes the rest sits in memory behind the stored pieces.
      if (this.state === 'writing') return 0;
      const n = this.rest.copy(buffer, 0, position - this.stored, Math.min(this.rest.length, position - this.stored + length));
      return n;
    }
    let start = 0;
    for (const piece of this.pieces) {
      if (position < start + piece.size) {
        const end = Math.min(start + piece.size, position + length) - 1;
        const got = await this.bucket.get(piece.key, { start: position - start, end: end - start });
        if (!got) throw new Error(`piece ${piece.key} is missing`);
        let n = 0;
        for await (const chunk of got.body) n += (chunk as Buffer).copy(buffer, n);
        return n;
      }
      start += piece.size;
    }
    return 0;
  };

  async commit(digest: Digest): Promise<void> {
    if (this.state !== 'open') throw new Error(`cannot commit a blob writer that is ${this.state}`);
    this.state = 'committing';
    const actual =
      digestAlgorithm(digest) === 'sha256'
        ? (`sha256:${this.hash.digest('hex')}` as Digest)
        : await hashPieces(this.bucket, this.pieces, digestAlgorithm(digest), this.rest);
    if (actual !== digest) {
      await this.cancel();
      throw new BlobDigestMismatchError(digest, actual);
    }
    const target = this.paths.blob(digest);
    if (this.pieces.length === 0) {
      await this.bucket.put(target, this.rest);
    } else {
      if (this.rest.length > 0) {
        const key = this.paths.ingestPiece(this.id, this.pieces.length);
        await this.bucket.put(key, this.rest);
        this.pieces.push({ key, size: this.rest.length });
      }
      await this.bucket.assemble(this.pieces, target);
    }
    this.state = 'done';
    // The content is visible now; pieces left by a failed delete are swept by GC (sweepLeftovers).
    await this.dropPieces().catch(() => undefined);
  }

  async cancel(): Promise<void> {
    if (this.state === 'done') return;
    this.state = 'done';
    await this.dropPieces();
  }

  private async dropPieces(): Promise<void> {
    this.rest = Buffer.alloc(0);
    // Listed rather than remembered: a PUT that failed may still have stored its piece.
    const keys: string[] = [];
    for await (const o of this.bucket.list(this.paths.ingestDir(this.id))) keys.push(o.key);
    await this.bucket.deleteMany(keys);
  }
}
