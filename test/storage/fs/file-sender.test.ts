import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { BufferPool } from '../../../src/storage/fs/buffer-pool.js';
import { sendFile } from '../../../src/storage/fs/file-sender.js';
import { ContentIntegrityError } from '../../../src/storage/storage-errors.js';

let dir: string;
let pool: BufferPool;
beforeEach(async () => {
  pool = new BufferPool(1 << 20, 4);
  dir = await mkdtemp(join(tmpdir(), 'keel-sender-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/**
 * A destination that looks at each chunk only a while after it was handed over, as a socket
 * does with a write it could not finish at once: a sender that refilled a buffer before the
 * write's callback would show up here as wrong bytes.
 */
class SlowSink extends Writable {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly delayMs: number) {
    super({ highWaterMark: 1 });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    setTimeout(() => {
      this.hash.update(chunk);
      this.bytes += chunk.length;
      callback();
    }, this.delayMs);
  }
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('sendFile', () => {
  const content = randomBytes(5 * 1024 * 1024 + 12345);
  let path: string;
  beforeEach(async () => {
    path = join(dir, 'blob');
    await writeFile(path, content);
  });

  test('sends the whole file byte for byte through reused buffers, without ending the destination', async () => {
    const sink = new SlowSink(5);
    await sendFile(path, sink, pool, content.length);
    expect(sink.bytes).toBe(content.length);
    expect(sink.hash.digest('hex')).toBe(sha256(content));
    expect(sink.writableEnded).toBe(false);
    // Both buffers came back, and the next send reuses them instead of allocating.
    expect(pool.idleCount).toBe(2);
    const again = new SlowSink(0);
    await sendFile(path, again, pool, content.length);
    expect(again.hash.digest('hex')).toBe(sha256(content));
    expect(pool.idleCount).toBe(2);
  });

  test('sends an inclusive byte range that spans several buffers', async () => {
    const sink = new SlowSink(1);
    const range = { start: 1000, end: 3 * 1024 * 1024 + 7 };
    await sendFile(path, sink, pool, content.length, range);
    expect(sink.bytes).toBe(range.end - range.start + 1);
    expect(sink.hash.digest('hex')).toBe(sha256(content.subarray(range.start, range.end + 1)));
  });

  test('an empty file sends nothing', async () => {
    await writeFile(path, Buffer.alloc(0));
    const sink = new SlowSink(0);
    await sendFile(path, sink, pool, 0);
    expect(sink.bytes).toBe(0);
  });

  test('a missing file rejects with a ContentIntegrityError before anything is written', async () => {
    const sink = new SlowSink(0);
    await expect(sendFile(join(dir, 'missing'), sink, pool, 10)).rejects.toBeInstanceOf(ContentIntegrityError);
    expect(sink.bytes).toBe(0);
  });

  test('a file shorter or longer than the announced size rejects before anything is written, with or without a range', async () => {
    for (const [announced, range] of [
      [content.length + 1, undefined],
      [content.length - 1, undefined],
      [content.length + 1, { start: 0, end: 99 }],
    ] as const) {
      const sink = new SlowSink(0);
      await expect(sendFile(path, sink, pool, announced, range)).rejects.toMatchObject({ name: 'ContentIntegrityError', expected: announced, actual: content.length });
      expect(sink.bytes).toBe(0);
    }
  });

  test('a destination destroyed mid-way (a client that went away) rejects instead of hanging', async () => {
    const sink = new SlowSink(20);
    setTimeout(() => sink.destroy(), 30);
    await expect(sendFile(path, sink, pool, content.length)).rejects.toThrow();
    expect(sink.bytes).toBeLessThan(content.length);
    // The buffer whose write never completed is not handed out again.
    expect(pool.idleCount).toBeLessThan(2);
  });
});
