/**
 * One upstream blob download in progress, written to a temporary file that any number of
 * clients read whole while it grows (ranges wait until it is stored). Readers share the
 * writer's file handle (positional reads), so the file can be renamed into the store while
 * they read; the handle closes when the writer and the last reader are done.
 */
import { EventEmitter } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { destinationClosed, write } from '../storage/writable-waits.js';

/** Each client's read buffer for a download in progress. */
const READ_CHUNK = 256 << 10;

export class BlobDownload {
  /** Bytes written so far; readers may read up to here. */
  written = 0;
  state: 'running' | 'done' | 'failed' = 'running';
  error: Error | undefined;
  /**
   * Repositories the upstream showed have this blob (the one it is fetched for, and those
   * that confirmed it since): the download may be read by requests for these only.
   */
  readonly repositories = new Set<string>();
  private readonly events = new EventEmitter().setMaxListeners(0);
  private refs = 1;
  private settle: () => void = () => undefined;
  /** Resolves when the download is stored or has failed. */
  readonly settled = new Promise<void>((resolve) => {
    this.settle = resolve;
  });

  constructor(
    readonly handle: FileHandle,
    /** Size announced by the upstream (Content-Length), if any. */
    readonly size: number | undefined,
  ) {}

  /** The writer's bytes so far have landed in the file. */
  grewTo(written: number): void {
    this.written = written;
    this.events.emit('change');
  }

  succeeded(): void {
    this.state = 'done';
    this.events.emit('change');
    this.settle();
  }

  failed(error: Error): void {
    this.state = 'failed';
    this.error = error;
    this.events.emit('change');
    this.settle();
  }

  /**
   * Resolves once the blob is verified and in the store; rejects with the download's error if
   * it failed, or when `dest` closes first (nobody is waiting for it any more).
   */
  async stored(dest: Writable): Promise<void> {
    const closed = destinationClosed(dest);
    try {
      await Promise.race([this.settled, closed.promise]);
    } finally {
      closed.dispose();
    }
    if (this.state === 'failed') throw this.error ?? new Error('upstream download failed');
  }

  onChange(listener: () => void): () => void {
    this.events.once('change', listener);
    return () => this.events.off('change', listener);
  }

  acquire(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0) void this.handle.close().catch(() => undefined);
  }

  /**
   * Writes the whole blob to `dest` as it arrives, without ending `dest`,
   * through one buffer of its own that is refilled once the destination is done with it:
   * twenty clients on one download hold 20 x 256 KiB, and make no garbage per read.
   * The last byte is held back until the digest is verified, so a client of a lying or
   * truncated upstream sees a broken transfer, never a complete wrong blob. That protects
   * only a read to the end of the blob: a range that stops short would be complete with
   * unverified bytes, so there is no range read here; ranges are read from the store once
   * the download is `stored`.
   */
  async sendTo(dest: Writable): Promise<void> {
    this.acquire();
    const closed = destinationClosed(dest);
    let unsubscribe: (() => void) | undefined;
    try {
      let position = 0;
      let buffer: Buffer | undefined;
      for (;;) {
        const verified = this.state === 'done' ? this.written : Math.max(0, this.written - 1);
        if (position < verified) {
          buffer ??= Buffer.allocUnsafe(READ_CHUNK);
          const { bytesRead } = await this.handle.read(buffer, 0, Math.min(buffer.length, verified - position), position);
          position += bytesRead;
          await Promise.race([write(dest, buffer.subarray(0, bytesRead)), closed.promise]);
          continue;
        }
        if (this.state === 'done' && position >= this.written) return;
        if (this.state === 'failed') throw this.error ?? new Error('upstream download failed');
        await Promise.race([
          new Promise<void>((resolve) => {
            unsubscribe = this.onChange(resolve);
          }),
          closed.promise,
        ]);
        unsubscribe = undefined;
      }
    } finally {
      unsubscribe?.();
      closed.dispose();
      this.release();
    }
  }
}
