/**
 * A BlobWriter on the local filesystem: bytes go to a fresh file in the temporary root
 * (paths.ts, ingest/), hashed (sha256) on the way in by the appender, and only reach the
 * blob's path on commit: digest checked, fsync, rename (commitInto). `readAt` reads the
 * temporary file through the writer's own handle, so clients following a proxy download
 * read the one copy being written; the handle stays valid until commit or cancel resolves.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, truncate, unlink, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobWriter } from '../blob-store.js';
import { asStorageError, BlobDigestMismatchError } from '../storage-errors.js';
import { digestAlgorithm, type Digest } from '../../primitives/types.js';
import { FileAppender } from './file-appender.js';
import { FlushBehind } from './flush-behind.js';

/** Proxy downloads are flushed behind the writes every this many bytes, as uploads are. */
const FLUSH_EVERY = 8 * 1024 * 1024;
/** Bytes gathered per file write: one writev per MiB, not one per few 64 KiB socket chunks. */
const WRITE_BATCH = 1024 * 1024;

export class FsBlobWriter implements BlobWriter {
  private written = 0;
  /** The running sha256 of every byte written; undefined once it cannot be trusted (a failed write). */
  private hash: Hash | undefined = createHash('sha256');
  private readonly flush: FlushBehind;
  private done = false;

  constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
    /** Makes the fully written, checked file at `path` visible under `digest` (fsync, rename). */
    private readonly commitInto: (path: string, digest: Digest) => Promise<void>,
  ) {
    this.flush = new FlushBehind(path, FLUSH_EVERY);
  }

  get size(): number {
    return this.written;
  }

  readonly readAt = async (buffer: Buffer, position: number, length: number): Promise<number> => {
    const { bytesRead } = await this.handle.read(buffer, 0, Math.min(length, buffer.length), position);
    return bytesRead;
  };

  async write(source: Readable, options: { limit?: number; landed?: (total: number) => void } = {}): Promise<number> {
    if (this.done) throw new Error('the blob writer is already committed or cancelled');
    const start = this.written;
    let failed = false;
    const sink = new FileAppender(this.handle, start, {
      hash: this.hash,
      limit: options.limit ?? Infinity,
      batch: WRITE_BATCH,
      written: (bytes) => {
        if (failed) return;
        this.written = start + bytes;
        this.flush.wrote(this.written);
        options.landed?.(this.written);
      },
    });
    try {
      await pipeline(source, sink);
      return sink.bytes;
    } catch (err) {
      // All or nothing: the file is cut back to where this write started; the running hash
      // saw bytes that are gone now, so commit hashes the file again.
      failed = true;
      this.hash = undefined;
      // A write still under way must land before the cut, not after it.
      await sink.idle();
      this.written = start;
      await truncate(this.path, start).catch(() => undefined);
      throw asStorageError(err);
    }
  }

  async commit(digest: Digest): Promise<void> {
    if (this.done) throw new Error('the blob writer is already committed or cancelled');
    this.done = true;
    try {
      const actual = await this.digestOf(digestAlgorithm(digest));
      if (actual !== digest) throw new BlobDigestMismatchError(digest, actual);
      await this.flush.close();
      await this.handle.close();
      await this.commitInto(this.path, digest);
    } catch (err) {
      await this.discard();
      throw asStorageError(err);
    }
  }

  async cancel(): Promise<void> {
    this.done = true;
    await this.discard();
  }

  private async digestOf(algorithm: string): Promise<string> {
    if (algorithm === 'sha256' && this.hash) return `sha256:${this.hash.digest('hex')}`;
    // Another algorithm (sha512), or a write failed half way: hash what the file holds.
    const hash = createHash(algorithm);
    if (this.written > 0) for await (const chunk of createReadStream(this.path, { start: 0, end: this.written - 1 })) hash.update(chunk as Buffer);
    return `${algorithm}:${hash.digest('hex')}`;
  }

  private async discard(): Promise<void> {
    await this.flush.close().catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }
}
