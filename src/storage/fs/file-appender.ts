/**
 * A writable that appends what it is given to an open file at a running position, feeding
 * a hash and refusing more than `limit` bytes on the way: one stage where a Transform (hash)
 * and a write stream were two. Chunks that arrive while a write is under way are written
 * together with one writev. `bytes` counts what was accepted; `written` hears the running
 * total after each write lands. The file handle stays open: its owner closes it.
 */
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { TooLargeError } from '../storage-errors.js';

/** More bytes arrived than the appender's limit allows. */

export interface AppenderOptions {
  hash?: Hash | undefined;
  limit?: number;
  written?: (bytes: number) => void;
}

/** Bytes held while a write is under way before the source is paused. */
const BUFFERED = 1 << 20;

export class FileAppender extends Writable {
  bytes = 0;
  private inflight: Promise<void> = Promise.resolve();

  constructor(
    private readonly handle: FileHandle,
    private position: number,
    private readonly options: AppenderOptions = {},
  ) {
    super({ highWaterMark: BUFFERED });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.append([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.append(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  private append(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    let size = 0;
    for (const b of buffers) size += b.length;
    const limit = this.options.limit ?? Infinity;
    if (this.bytes + size > limit) {
      callback(new TooLargeError(limit));
      return;
    }
    for (const b of buffers) this.options.hash?.update(b);
    this.bytes += size;
    const landed = this.writeAll(buffers, size).then(() => {
      this.position += size;
      this.options.written?.(this.bytes);
      callback();
    }, callback);
    this.inflight = landed;
  }

  /** Resolves once no write is under way (after a failure, before the file is cut back). */
  idle(): Promise<void> {
    return this.inflight;
  }

  /**
   * writev may write less than asked (a disk filling up writes what fits); the rest is
   * written again, so a full disk surfaces as the ENOSPC of the next write, not as a short
   * write nobody can name.
   */
  private async writeAll(buffers: Buffer[], size: number): Promise<void> {
    let done = 0;
    let pending = buffers;
    while (done < size) {
      const { bytesWritten } = await this.handle.writev(pending, this.position + done);
      if (bytesWritten <= 0) throw new Error(`short write: ${done} of ${size} bytes`);
      done += bytesWritten;
      pending = after(pending, bytesWritten);
    }
  }
}

/** What is left of `buffers` once their first `bytes` were written. */
function after(buffers: Buffer[], bytes: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = bytes;
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    rest.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return rest;
}
