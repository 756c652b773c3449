/**
 * destinationClosed's waits: each ends with its work or with the destination's failure, and
 * one that settled is forgotten (a send of 64 MiB in 64 KiB writes waits 2,000 times on one
 * response; what Promise.race left behind per wait was most of Keel's memory under 300 slow clients).
 */
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, test } from '@jest/globals';
import { destinationClosed, write } from '../../src/primitives/writable-waits.js';

/** A promise with its resolve function, settled by the test. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve = (_value: T): void => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('destinationClosed', () => {
  test('race() gives the work its result while the destination is open', async () => {
    const dest = new PassThrough();
    const watch = destinationClosed(dest);
    const work = deferred<number>();
    const raced = watch.race(work.promise);
    work.resolve(7);
    await expect(raced).resolves.toBe(7);
    watch.dispose();
  });

  test('every wait under way rejects when the destination closes, and later ones at once', async () => {
    const dest = new PassThrough();
    const watch = destinationClosed(dest);
    const waits = [watch.race(deferred<void>().promise), watch.race(deferred<void>().promise)];
    expect(watch.pending).toBe(2);
    dest.destroy();
    for (const w of waits) await expect(w).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    await expect(watch.race(deferred<void>().promise)).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    await expect(watch.promise).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  test('a destination error rejects the waits with that error', async () => {
    const dest = new Writable({ write: (_chunk, _encoding, callback) => callback(new Error('disk on fire')) });
    dest.on('error', () => undefined);
    const watch = destinationClosed(dest);
    await expect(watch.race(write(dest, Buffer.from('x')))).rejects.toThrow('disk on fire');
    watch.dispose();
  });

  test('10,000 settled waits leave nothing behind: no listener on the destination, no wait on the watch', async () => {
    const dest = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    const watch = destinationClosed(dest);
    const closeListeners = dest.listenerCount('close');
    for (let i = 0; i < 10_000; i++) await watch.race(write(dest, Buffer.from('x')));
    expect(dest.listenerCount('close')).toBe(closeListeners);
    expect(watch.pending).toBe(0);
    // The closing still reaches a wait started after all those: nothing was used up.
    const last = watch.race(deferred<void>().promise);
    dest.destroy();
    await expect(last).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });
});
