/**
 * A pass-through stream that feeds every chunk to a hash and counts bytes, refusing
 * more than `limit` bytes. Used on every write path so content is hashed while it streams.
 */
import type { Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class TooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} bytes`);
    this.name = 'TooLargeError';
  }
}

export class DigestStream extends Transform {
  bytes = 0;

  constructor(
    private readonly hash: Hash | undefined,
    private readonly limit = Infinity,
    /** Told the running byte count after each chunk. */
    private readonly progress?: (bytes: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(new TooLargeError(this.limit));
      return;
    }
    this.hash?.update(chunk);
    this.progress?.(this.bytes);
    callback(null, chunk);
  }
}
