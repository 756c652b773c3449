/**
 * Content-addressed bytes in an S3 bucket under a prefix (s3-paths.ts for the layout). An
 * object only appears under its digest key once its bytes were checked against the digest
 * (s3-blob-writer.ts); readers get the object or a range of it, or a presigned URL to fetch it
 * from the object store themselves. GC's view (list, removeUnwanted, sweepLeftovers) is in
 * s3-blob-sweeper.ts.
 */
import { Readable, type Writable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../../primitives/clock.js';
import { digestBuffer } from '../../primitives/digest.js';
import { digestAlgorithm, type Digest } from '../../primitives/types.js';
import type { BlobStore, BlobWriter, ByteRange, Leftover, StoredBlob } from '../blob-store.js';
import { BlobDigestMismatchError, BlobNotFoundError, ContentIntegrityError, TooLargeError } from '../storage-errors.js';
import { destinationClosed, write } from '../../primitives/writable-waits.js';
import type { S3Bucket } from './s3-bucket.js';
import { S3BlobSweeper } from './s3-blob-sweeper.js';
import { S3BlobWriter } from './s3-blob-writer.js';
import type { S3Paths } from './s3-paths.js';
import { resumingBody } from './resuming-body.js';
import { DEFAULT_TUNING, type S3Tuning } from './s3-tuning.js';

export interface S3BlobStoreOptions {
  /** Offer presigned GET URLs (redirectUrl); default true. */
  redirect?: boolean;
  /** Seconds a presigned URL stays valid; default 1200 (distribution's s3 driver: 20 minutes). */
  redirectTtlSeconds?: number;
  tuning?: S3Tuning;
  /** Milliseconds since the epoch, for signing URLs (injected so tests can sign in the past). */
  clock?: Clock;
}

/**
 * How long a size HEAD saw is trusted for verify(). Content under a digest key never changes
 * (it is only ever written with that digest's bytes), so what can go stale is only that an
 * object vanished behind Keel's back (damage, or a GC of another process, which deletes only
 * what the index no longer names, and the index is asked first): noticed at most this late.
 * Without it every blob HEAD is an S3 round trip: about 300 HEADs/s against RGW here.
 */
const VERIFIED_TTL_MS = 60_000;
/** Digests remembered as verified (a few dozen bytes each). */
const VERIFIED_MAX = 10_000;

export class S3BlobStore implements BlobStore {
  private readonly sweeper: S3BlobSweeper;
  private readonly tuning: S3Tuning;
  /** Digest → the size a HEAD found and when (verify's memo; see VERIFIED_TTL_MS). */
  private readonly verified = new LRUCache<string, { size: number; at: number }>({ max: VERIFIED_MAX });

  constructor(
    private readonly bucket: S3Bucket,
    private readonly paths: S3Paths,
    private readonly options: S3BlobStoreOptions = {},
  ) {
    this.tuning = options.tuning ?? DEFAULT_TUNING;
    this.sweeper = new S3BlobSweeper(bucket, paths);
  }

  async size(digest: Digest): Promise<number | undefined> {
    return (await this.bucket.head(this.paths.blob(digest)))?.size;
  }

  async verify(digest: Digest, size: number): Promise<void> {
    const now = this.options.clock?.now() ?? Date.now();
    const seen = this.verified.get(digest);
    if (seen && seen.size === size && now - seen.at < VERIFIED_TTL_MS) return;
    const key = this.paths.blob(digest);
    const actual = (await this.bucket.head(key))?.size;
    if (actual !== size) {
      this.verified.delete(digest);
      throw new ContentIntegrityError(digest, `s3://${this.bucket.name}/${key}`, size, actual);
    }
    this.verified.set(digest, { size, at: now });
  }

  async reader(digest: Digest, range?: ByteRange): Promise<Readable> {
    const key = this.paths.blob(digest);
    const got = await this.bucket.get(key, range);
    if (!got) throw new BlobNotFoundError(digest);
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? Infinity, got.total - 1);
    return Readable.from(resumingBody({ bucket: this.bucket, key, body: got.body, start, end }), { objectMode: false });
  }

  async send(digest: Digest, dest: Writable, size: number, range?: ByteRange): Promise<void> {
    const key = this.paths.blob(digest);
    if (range && range.start >= size) {
      // Nothing to send, but the content must still be there with its recorded length.
      await this.verify(digest, size);
      return;
    }
    const got = await this.bucket.get(key, range ? { start: range.start, end: Math.min(range.end, size - 1) } : undefined);
    const where = `s3://${this.bucket.name}/${key}`;
    if (!got) throw new ContentIntegrityError(digest, where, size, undefined);
    if (got.total !== size) {
      got.body.destroy();
      throw new ContentIntegrityError(digest, where, size, got.total);
    }
    // Written one chunk at a time, each only after the destination took the last: the body
    // is read as fast as the client reads, never faster, and resumed where the object store
    // dropped it (a client that paused longer than the store waits).
    const start = range?.start ?? 0;
    const end = range ? Math.min(range.end, size - 1) : size - 1;
    const closed = destinationClosed(dest);
    try {
      for await (const chunk of resumingBody({ bucket: this.bucket, key, body: got.body, start, end })) {
        await closed.race(write(dest, chunk));
      }
    } finally {
      closed.dispose();
    }
  }

  async readBytes(digest: Digest, maxBytes: number): Promise<Buffer> {
    const bytes = await this.bucket.getBytes(this.paths.blob(digest), maxBytes, () => new TooLargeError(maxBytes));
    if (!bytes) throw new BlobNotFoundError(digest);
    return bytes;
  }

  async redirectUrl(digest: Digest): Promise<string | undefined> {
    if (this.options.redirect === false) return undefined;
    return this.bucket.presignGet(this.paths.blob(digest), this.options.redirectTtlSeconds ?? 1200, new Date(this.options.clock?.now() ?? Date.now()));
  }

  async writer(): Promise<BlobWriter> {
    return new S3BlobWriter(this.bucket, this.paths, this.tuning);
  }

  /** Checks the bytes against the digest first: nothing under a digest key is ever another digest's bytes. */
  async writeBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    const actual = digestBuffer(bytes, digestAlgorithm(digest));
    if (actual !== digest) throw new BlobDigestMismatchError(digest, actual);
    await this.bucket.put(this.paths.blob(digest), bytes);
  }

  async remove(digest: Digest): Promise<boolean> {
    this.verified.delete(digest);
    const key = this.paths.blob(digest);
    if (!(await this.bucket.head(key))) return false;
    await this.bucket.delete(key);
    return true;
  }

  /** The listing gives size and time already, so GC's `skip` (a shortcut for the filesystem's stats) is not used. */
  list(): AsyncIterable<StoredBlob> {
    return this.sweeper.list();
  }

  get removalConcurrency(): number {
    return this.sweeper.removalConcurrency;
  }

  removeUnwanted(digest: Digest, cutoff: number, wanted: () => boolean | Promise<boolean>): Promise<number> {
    this.verified.delete(digest);
    return this.sweeper.removeUnwanted(digest, cutoff, wanted);
  }

  leftovers(cutoff: number): AsyncIterable<Leftover> {
    return this.sweeper.leftovers(cutoff);
  }

  sweepLeftovers(cutoff: number, removed?: (leftover: Leftover) => void): Promise<number> {
    return this.sweeper.sweepLeftovers(cutoff, removed);
  }
}
