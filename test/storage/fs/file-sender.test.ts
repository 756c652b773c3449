import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { sendFile } from '../../../src/storage/fs/file-sender.js';
import { LARGE_SEND_BUFFER, SendBuffers, SMALL_SEND_BUFFER } from '../../../src/storage/fs/send-buffers.js';
import { ContentIntegrityError } from '../../../src/storage/storage-errors.js';

let dir: string;
/** Time as the sends see it: moved only by the sinks below, so every drain rate is exact. */
let clock = 0;
let pool: SendBuffers;
beforeEach(async () => {
  clock = 0;
  pool = new SendBuffers({ largeBudget: 4 * LARGE_SEND_BUFFER, now: () => clock });
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
  /** Length of every chunk written, in order. */
  readonly chunks: number[] = [];
  /**
   * `drainMs(n)`: how far the sends' clock moves before the n-th write (from 0) completes;
   * 0 by default (a destination that drains at once).
   */
  constructor(
    private readonly delayMs: number,
    private readonly drainMs: (n: number) => number = () => 0,
  ) {
    super({ highWaterMark: 1 });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const n = this.chunks.length;
    this.chunks.push(chunk.length);
    setTimeout(() => {
      this.hash.update(chunk);
      this.bytes += chunk.length;
      clock += this.drainMs(n);
      callback();
    }, this.delayMs);
  }
}

/**
 * A destination that takes each chunk whole at once (as a socket with room in its buffer) and
 * moves the sends' clock by `ms(chunk length)` before the write's callback runs.
 */
class EagerSink extends Writable {
  readonly chunks: number[] = [];
  readonly hash = createHash('sha256');
  constructor(private readonly ms: (bytes: number) => number) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk.length);
    this.hash.update(chunk);
    clock += this.ms(chunk.length);
    callback();
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
    // It drained at once: both slots moved up from the file's first two chunks to large
    // buffers, which came back with the chunks' buffers (a lone send keeps no chunk), and the
    // next send reuses them instead of allocating.
    expect(pool.counts).toEqual({ large: 2, idleLarge: 2, idleSmall: 2 });
    expect(pool.chunks.counts).toEqual({ held: 0, idle: 0, reads: 2 });
    const again = new SlowSink(0);
    await sendFile(path, again, pool, content.length);
    expect(again.hash.digest('hex')).toBe(sha256(content));
    expect(pool.counts).toEqual({ large: 2, idleLarge: 2, idleSmall: 2 });
    expect(pool.chunks.counts).toEqual({ held: 0, idle: 0, reads: 4 });
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
    // The buffer whose write never completed is not handed out again, nor counted any more.
    const { large, idleLarge } = pool.counts;
    expect(large).toBe(idleLarge);
    expect(pool.chunks.counts.held).toBe(pool.chunks.counts.idle);
  });

  test('a destination that drains slowly (2 MB/s) is sent through small buffers only', async () => {
    // 64 KiB take 32 ms at 2 MB/s.
    const sink = new SlowSink(0, () => 32);
    await sendFile(path, sink, pool, content.length);
    expect(sink.hash.digest('hex')).toBe(sha256(content));
    expect(Math.max(...sink.chunks)).toBe(SMALL_SEND_BUFFER);
    expect(pool.counts).toEqual({ large: 0, idleLarge: 0, idleSmall: 2 });
    // Each of the file's 81 chunks (5 MiB and a tail) read once, and none kept: nobody else reads the file.
    expect(pool.chunks.counts).toEqual({ held: 0, idle: 0, reads: 81 });
  });

  test('a destination that drains fast moves up to large buffers, then back down when it slows', async () => {
    // Instant for the first 4 writes, then 64 KiB or 1 MiB in 100 ms (at most 10 MiB/s: slow).
    const sink = new SlowSink(0, (n) => (n < 4 ? 0 : 100));
    await sendFile(path, sink, pool, content.length);
    expect(sink.hash.digest('hex')).toBe(sha256(content));
    // First the two small buffers; then large ones (writes 2-5 follow writes that drained at once).
    expect(sink.chunks.slice(0, 2)).toEqual([SMALL_SEND_BUFFER, SMALL_SEND_BUFFER]);
    expect(sink.chunks.slice(2, 6)).toEqual([LARGE_SEND_BUFFER, LARGE_SEND_BUFFER, LARGE_SEND_BUFFER, LARGE_SEND_BUFFER]);
    // Writes 4 and 5 drained slowly: every slot is back on a small buffer (the last chunk is the file's short tail).
    expect(sink.chunks.length).toBeGreaterThan(10);
    expect(sink.chunks.slice(6).every((c) => c <= SMALL_SEND_BUFFER)).toBe(true);
    expect(pool.counts.idleLarge).toBe(pool.counts.large);
  });

  test('a destination that takes every write at once stays on large buffers even when its callbacks come late (a busy event loop)', async () => {
    // Takes each chunk synchronously (as a socket with room in its buffer), but the clock
    // moves 3 ms before each callback: 64 KiB in 3 ms is 21 MiB/s, so timing alone
    // (FAST_DRAIN, 32 MiB/s) would call it slow; the send's average stays above STEADY_FAST.
    const sink = new EagerSink(() => 3);
    await sendFile(path, sink, pool, content.length);
    expect(sink.hash.digest('hex')).toBe(sha256(content));
    expect(sink.chunks.slice(0, 2)).toEqual([SMALL_SEND_BUFFER, SMALL_SEND_BUFFER]);
    expect(sink.chunks.slice(2, 6)).toEqual([LARGE_SEND_BUFFER, LARGE_SEND_BUFFER, LARGE_SEND_BUFFER, LARGE_SEND_BUFFER]);
  });

  test('a destination that takes every write at once but drains at 2 MB/s overall (a slow client with room in its socket buffer) stays on small buffers', async () => {
    // Each write is taken whole at once, and the clock moves as a 2 MB/s reader would take
    // that long for it: 32 ms per 64 KiB.
    const sink = new EagerSink((bytes) => bytes / 2000);
    await sendFile(path, sink, pool, content.length);
    expect(sink.hash.digest('hex')).toBe(sha256(content));
    expect(Math.max(...sink.chunks)).toBe(SMALL_SEND_BUFFER);
    // Not one large buffer was taken: the budget stays free for a fast client.
    expect(pool.counts.large).toBe(0);
  });

  test('slow destinations reading one file at once share its chunks: each is read from disk once, and ranges too', async () => {
    const sinks = Array.from({ length: 10 }, () => new SlowSink(1, () => 32));
    const ranged = new SlowSink(1, () => 32);
    const range = { start: 100_000, end: 2_000_000 };
    await Promise.all([...sinks.map((sink) => sendFile(path, sink, pool, content.length)), sendFile(path, ranged, pool, content.length, range)]);
    for (const sink of sinks) expect(sink.hash.digest('hex')).toBe(sha256(content));
    expect(ranged.hash.digest('hex')).toBe(sha256(content.subarray(range.start, range.end + 1)));
    // 81 chunks in the file, 81 reads for the eleven sends; what is kept is idle (none referenced).
    expect(pool.chunks.counts.reads).toBe(81);
    expect(pool.chunks.counts.held).toBe(pool.chunks.counts.idle);
  });

  test('a file renamed over the blob\'s path (a repaired copy) is read anew, not served from the chunks of the one before', async () => {
    const before = new SlowSink(0, () => 32);
    await sendFile(path, before, pool, content.length);
    const repaired = randomBytes(content.length);
    await writeFile(`${path}.new`, repaired);
    await rename(`${path}.new`, path);
    const after = new SlowSink(0, () => 32);
    await sendFile(path, after, pool, content.length);
    expect(after.hash.digest('hex')).toBe(sha256(repaired));
  });

  test('fast destinations share the budget of large buffers: beyond it they stay on small ones', async () => {
    const budget = new SendBuffers({ largeBudget: 3 * LARGE_SEND_BUFFER, now: () => clock });
    const sinks = Array.from({ length: 4 }, () => new SlowSink(1));
    await Promise.all(sinks.map((sink) => sendFile(path, sink, budget, content.length)));
    for (const sink of sinks) expect(sink.hash.digest('hex')).toBe(sha256(content));
    // Never more than the budget's 3 large buffers existed, and all are back.
    expect(budget.counts.large).toBeLessThanOrEqual(3);
    expect(budget.counts.idleLarge).toBe(budget.counts.large);
    const large = sinks.map((s) => s.chunks.filter((c) => c === LARGE_SEND_BUFFER).length);
    expect(large.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});
