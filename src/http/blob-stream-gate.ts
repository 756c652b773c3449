/**
 * Admission of blob GET bodies: at most `streams` are sent at once (limits.blob_streams).
 * A GET beyond that waits in a first-come queue of at most `queued` (limits.blob_stream_queue)
 * for `waitMs` (limits.blob_stream_wait); a full queue or a wait that runs out is a 503
 * UNAVAILABLE with Retry-After, so memory under any number of clients stays bounded by the
 * streams' buffers (storage/fs/send-buffers.ts) and the server is never killed for memory.
 * A client that leaves while it waits gives its place up.
 */
import type { Writable } from 'node:stream';
import { RegistryError } from '../primitives/errors.js';

export interface BlobStreamLimits {
  streams: number;
  queued: number;
  waitMs: number;
}

/** What the gate tells the metrics: rejections, and the current counts on a scrape. */
export interface BlobStreamMetrics {
  blobStreamRejected(reason: 'queue_full' | 'wait_timeout'): void;
}

/** Timers, injected so tests decide when a wait runs out. */
export interface GateTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: GateTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface Waiter {
  grant(): void;
}

export class BlobStreamGate {
  private running = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    private readonly limits: BlobStreamLimits,
    private readonly metrics?: BlobStreamMetrics,
    private readonly timers: GateTimers = realTimers,
  ) {}

  /** Streams being sent now. */
  get active(): number {
    return this.running;
  }

  /** GETs waiting for a stream. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves with the function that gives the stream back (call it once, when the body is
   * sent or abandoned). Rejects with a 503 RegistryError when the queue is full or the wait
   * ran out, or with an error when `dest` closes while waiting.
   */
  enter(dest: Writable): Promise<() => void> {
    if (this.running < this.limits.streams && this.queue.length === 0) return Promise.resolve(this.take());
    if (this.queue.length >= this.limits.queued || this.limits.waitMs === 0) return Promise.reject(this.refuse('queue_full'));
    return new Promise<() => void>((resolve, reject) => {
      const leave = (): void => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        this.timers.clearTimeout(timer);
        dest.off('close', onClose);
      };
      const waiter: Waiter = {
        grant: () => {
          leave();
          resolve(this.take());
        },
      };
      const timer = this.timers.setTimeout(() => {
        leave();
        reject(this.refuse('wait_timeout'));
      }, this.limits.waitMs);
      const onClose = (): void => {
        leave();
        reject(Object.assign(new Error('the client left while waiting for a blob stream'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
      };
      dest.once('close', onClose);
      this.queue.push(waiter);
    });
  }

  private take(): () => void {
    this.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.queue[0]?.grant();
    };
  }

  private refuse(reason: 'queue_full' | 'wait_timeout'): RegistryError {
    this.metrics?.blobStreamRejected(reason);
    // A second is about how long a blob stream of a busy registry takes to free up, and a
    // client that retries sooner only adds to the queue.
    return new RegistryError(
      'UNAVAILABLE',
      'too many blob downloads at once: retry later',
      { streams: this.limits.streams, waiting: this.queue.length, reason },
      503,
      { 'Retry-After': '1' },
    );
  }
}
