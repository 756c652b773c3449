import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { FileAppender } from '../../../src/storage/fs/file-appender.js';
import { TooLargeError } from '../../../src/storage/storage-errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-appender-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const chunks = (count: number, size: number): Buffer[] => Array.from({ length: count }, () => randomBytes(size));

describe('FileAppender', () => {
  test('appends at its position and reports the running total', async () => {
    const path = join(dir, 'upload');
    await writeFile(path, 'head');
    const parts = chunks(200, 10_000);
    const body = Buffer.concat(parts);
    const totals: number[] = [];
    const handle = await open(path, 'r+');
    const sink = new FileAppender(handle, 4, { written: (bytes) => totals.push(bytes) });
    await pipeline(Readable.from(parts), sink);
    await handle.close();
    expect(sink.bytes).toBe(body.length);
    expect((await readFile(path)).equals(Buffer.concat([Buffer.from('head'), body]))).toBe(true);
    expect(totals.at(-1)).toBe(body.length);
    expect([...totals].sort((a, b) => a - b)).toEqual(totals);
  });

  test('refuses more than its limit, and writes nothing of the chunk that crossed it', async () => {
    const path = join(dir, 'upload');
    const handle = await open(path, 'w+');
    const sink = new FileAppender(handle, 0, { limit: 25_000 });
    await expect(pipeline(Readable.from(chunks(3, 10_000)), sink)).rejects.toBeInstanceOf(TooLargeError);
    await handle.close();
    expect((await readFile(path)).length).toBeLessThanOrEqual(25_000);
    expect(sink.bytes).toBeLessThanOrEqual(25_000);
  });

  test('with a batch, gathers chunks into fewer writes, and writes what a quiet source sent', async () => {
    const path = join(dir, 'download');
    const handle = await open(path, 'w+');
    const first = chunks(40, 64 * 1024);
    const tail = randomBytes(10_000);
    const totals: number[] = [];
    let heard: () => void = () => undefined;
    const wroteAll = new Promise<void>((resolve) => (heard = resolve));
    const firstSize = 40 * 64 * 1024;
    const sink = new FileAppender(handle, 0, {
      batch: 1024 * 1024,
      written: (bytes) => {
        totals.push(bytes);
        if (bytes === firstSize) heard();
      },
    });
    // The source sends 2.5 MiB, then waits until all of it landed (the last half MiB only by
    // the quiet-source write: it is below the batch), then sends its tail.
    async function* source(): AsyncGenerator<Buffer> {
      yield* first;
      await wroteAll;
      yield tail;
    }
    await pipeline(Readable.from(source()), sink);
    await handle.close();
    expect((await readFile(path)).equals(Buffer.concat([...first, tail]))).toBe(true);
    expect(totals.at(-1)).toBe(firstSize + tail.length);
    expect(totals.length).toBeLessThan(first.length / 4);
    expect([...totals].sort((a, b) => a - b)).toEqual(totals);
  });
});
