/**
 * Waiting on a writable (an HTTP response) for code that reuses its buffers: a write that
 * resolves only once its callback ran, and a signal for a destination that went away.
 */
import type { Writable } from 'node:stream';

/** Writes `chunk`; resolves when the destination is done with it (its callback ran). */
export function write(dest: Writable, chunk: Buffer): Promise<void> {
  const written = new Promise<void>((resolve, reject) => {
    dest.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
  // Once the destination has closed nobody awaits this write any more; its error (if the
  // callback still comes) must not become an unhandled rejection.
  written.catch(() => undefined);
  return written;
}

/** What destinationClosed gives: the failure as a promise, and waits that end with it. */
export interface DestinationWatch {
  /** Rejects when the destination errors or closes (never resolves). */
  promise: Promise<never>;
  /**
   * `work`, or the destination's failure if that comes first. Unlike
   * `Promise.race([work, promise])`, which leaves a reaction on `promise` for every call until
   * the destination closes (a 64 MiB send in 64 KiB writes left 2,000 per response, ~120 MiB
   * over 300 slow clients), a wait is forgotten as soon as it settles.
   */
  race<T>(work: Promise<T>): Promise<T>;
  /** Waits under way (settled ones are not kept). */
  readonly pending: number;
  dispose(): void;
}

/**
 * A promise that rejects when `dest` errors or closes. A write to a response whose socket
 * is already gone may never call back, so every wait races this.
 */
export function destinationClosed(dest: Writable): DestinationWatch {
  const waiting = new Set<(err: Error) => void>();
  let failure: Error | undefined;
  let failPromise = (_err: Error): void => undefined;
  const promise = new Promise<never>((_resolve, reject) => {
    failPromise = reject;
  });
  promise.catch(() => undefined);
  const fail = (err: Error): void => {
    failure ??= err;
    failPromise(failure);
    for (const reject of waiting) reject(failure);
    waiting.clear();
  };
  const onClose = (): void => fail(Object.assign(new Error('the destination closed before the file was sent'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  const onError = (err: Error): void => fail(err);
  dest.once('close', onClose);
  dest.once('error', onError);
  if (dest.destroyed) onClose();
  return {
    promise,
    race<T>(work: Promise<T>): Promise<T> {
      if (failure) {
        work.catch(() => undefined);
        return Promise.reject(failure);
      }
      return new Promise<T>((resolve, reject) => {
        waiting.add(reject);
        work.then(
          (value) => {
            waiting.delete(reject);
            resolve(value);
          },
          (err: unknown) => {
            waiting.delete(reject);
            reject(err);
          },
        );
      });
    },
    get pending() {
      return waiting.size;
    },
    dispose() {
      dest.off('close', onClose);
      dest.off('error', onError);
      waiting.clear();
    },
  };
}
