/**
 * One upstream blob download in progress, written to a temporary file that any number of
 * clients read while it grows. Readers share the writer's file handle (positional reads),
 * so the file can be renamed into the store while they read; the handle closes when the
 * writer and the last reader are done.
 */
import { EventEmitter } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ByteRange } from '../storage/content-store.js';

const READ_CHUNK = 1 << 20;

export class BlobDownload {
  /** Bytes written so far; readers may read up to here. */
  written = 0;
  state: 'running' | 'done' | 'failed' = 'running';
  error: Error | undefined;
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

  /** The writer appended bytes. */
  progressed(bytes: number): void {
    this.written += bytes;
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

  /** A stream of the blob (or a range of it) that delivers bytes as they arrive. */
  reader(range?: ByteRange): Readable {
    return new DownloadReader(this, range?.start ?? 0, range?.end ?? Infinity);
  }
}

class DownloadReader extends Readable {
  private unsubscribe: (() => void) | undefined;
  /** One pump at a time: it reads, or waits for the download to grow. */
  private busy = false;

  constructor(
    private readonly download: BlobDownload,
    private position: number,
    private readonly end: number,
  ) {
    super({ highWaterMark: READ_CHUNK });
    download.acquire();
  }

  override _read(): void {
    if (!this.busy) void this.pump();
  }

  private async pump(): Promise<void> {
    const d = this.download;
    this.busy = true;
    try {
      for (;;) {
        // The last byte is held back until the digest is verified: a client of a lying or
        // truncated upstream then sees a broken transfer, never a complete wrong blob.
        const verified = d.state === 'done' ? d.written : Math.max(0, d.written - 1);
        const limit = Math.min(verified, this.end + 1);
        if (this.position < limit) {
          const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, limit - this.position));
          const { bytesRead } = await d.handle.read(buffer, 0, buffer.length, this.position);
          if (this.destroyed) return;
          this.position += bytesRead;
          if (!this.push(buffer.subarray(0, bytesRead))) break;
          continue;
        }
        if (this.position > this.end || (d.state === 'done' && this.position >= d.written)) {
          this.push(null);
          break;
        }
        if (d.state === 'failed') {
          this.destroy(d.error ?? new Error('upstream download failed'));
          return;
        }
        await new Promise<void>((resolve) => {
          this.unsubscribe = d.onChange(resolve);
        });
        this.unsubscribe = undefined;
        if (this.destroyed) return;
      }
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      this.busy = false;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.unsubscribe?.();
    this.download.release();
    callback(error);
  }
}
