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

/**
 * A promise that rejects when `dest` errors or closes. A write to a response whose socket
 * is already gone may never call back, so every wait races this.
 */
export function destinationClosed(dest: Writable): { promise: Promise<never>; dispose(): void } {
  let onClose = (): void => undefined;
  let onError = (_err: Error): void => undefined;
  const promise = new Promise<never>((_resolve, reject) => {
    onClose = () => reject(Object.assign(new Error('the destination closed before the file was sent'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    onError = reject;
  });
  promise.catch(() => undefined);
  dest.once('close', onClose);
  dest.once('error', onError);
  if (dest.destroyed) onClose();
  return {
    promise,
    dispose() {
      dest.off('close', onClose);
      dest.off('error', onError);
    },
  };
}
