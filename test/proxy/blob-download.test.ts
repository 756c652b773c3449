import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { BlobDownload } from '../../src/proxy/blob-download.js';
import { spoolFor, type DownloadSpool } from '../../src/proxy/download-spool.js';
import { digestBuffer } from '../../src/primitives/digest.js';
import type { Digest } from '../../src/primitives/types.js';
import type { StorageBackend } from '../../src/storage/backend.js';
import type { BlobWriter } from '../../src/storage/blob-store.js';
import { createFsBackend } from '../../src/storage/fs/fs-backend.js';

let dir: string;
/** The backends this test's downloads write through: each has a hashing and a sweeping worker to stop. */
let backends: StorageBackend[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-download-'));
});
afterEach(async () => {
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
  await rm(dir, { recursive: true, force: true });
});

/** Keeps a copy of every chunk: the sender refills its buffer once a write called back. */
class Sink extends Writable {
  readonly received: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.received.push(Buffer.from(chunk));
    setTimeout(callback, 1);
  }
  get bytes(): Buffer {
    return Buffer.concat(this.received);
  }
}

async function collect(d: BlobDownload): Promise<Buffer> {
  const sink = new Sink();
  await d.sendTo(sink);
  return sink.bytes;
}

interface Harness {
  writer: BlobWriter;
  spool: DownloadSpool;
  /** Hand the landed chunks to the download, as BlobFetcher does (false: totals only, no window). */
  chunks: boolean;
  /** Reads of the spool so far. */
  spoolReads: number;
  /** Set when the download is stored. */
  digest?: Digest;
}

const harnesses = new Map<BlobDownload, Harness>();

/** A download written through a real filesystem blob store's writer, as BlobFetcher does. */
async function newDownload(size: number | undefined, options: { ownSpool?: boolean; chunks?: boolean } = {}): Promise<BlobDownload> {
  const backend = createFsBackend({ root: join(dir, 'store'), tempRoot: join(dir, 'tmp') });
  backends.push(backend);
  const store = backend.blobs;
  const inner = await store.writer();
  // Without readAt (as an object store's writer), the download keeps a spool file of its own.
  const writer: BlobWriter = options.ownSpool
    ? {
        get size() {
          return inner.size;
        },
        write: (source, o) => inner.write(source, o),
        commit: (digest) => inner.commit(digest),
        cancel: () => inner.cancel(),
      }
    : inner;
  const spool = await spoolFor(writer, join(dir, 'spool'));
  const h: Harness = { writer, spool, chunks: options.chunks ?? true, spoolReads: 0 };
  const counted: DownloadSpool = {
    ...spool,
    readAt: (buffer, position, length) => {
      h.spoolReads++;
      return spool.readAt(buffer, position, length);
    },
  };
  const d: BlobDownload = new BlobDownload(counted, size, (dest, start, end) => {
    if (!h.digest) throw new Error('read from the store before it was stored');
    return store.send(h.digest, dest, d.written, { start, end });
  });
  harnesses.set(d, h);
  return d;
}

function harness(d: BlobDownload): Harness {
  const h = harnesses.get(d);
  if (!h) throw new Error('no harness');
  return h;
}

async function write(d: BlobDownload, data: Buffer): Promise<void> {
  const { writer, spool, chunks } = harness(d);
  const grew = (total: number, landed?: readonly Buffer[]): void => d.grewTo(total, chunks ? landed : undefined);
  await writer.write(spool.source(Readable.from([data]), grew), spool.followsWriter ? { landed: grew } : {});
}

/** Seals, commits under the digest of everything written, and says so: BlobFetcher's order. */
async function store(d: BlobDownload, data: Buffer): Promise<void> {
  const h = harness(d);
  const digest = digestBuffer(data);
  await d.seal();
  await h.writer.commit(digest);
  h.digest = digest;
  await h.spool.close();
  d.succeeded();
}

async function fail(d: BlobDownload, error: Error): Promise<void> {
  const { writer, spool } = harness(d);
  await d.seal();
  await writer.cancel();
  await spool.close();
  d.failed(error);
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

/** Polls until `done()` holds, however long that takes (the test's own timeout bounds it). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await tick();
}

/** Polls until `value()` reaches `target` (or two seconds pass), then returns it. */
async function settle(value: () => number, target: number): Promise<number> {
  for (let i = 0; i < 400 && value() < target; i++) await tick();
  return value();
}

describe.each([
  ['reading the writer back', false, true],
  ['with a spool file of its own', true, true],
  ['reading the writer back, told totals only', false, false],
  ['with a spool file of its own, told totals only', true, false],
])('BlobDownload readers, %s', (_name, ownSpool, chunks) => {
  test('a reader gets every byte as the download grows, the last one only after verification', async () => {
    const data = randomBytes(3000);
    const d = await newDownload(data.length, { ownSpool, chunks });
    const sink = new Sink();
    const ended = d.sendTo(sink);
    const length = (): number => sink.bytes.length;
    await write(d, data.subarray(0, 1000));
    expect(await settle(length, 999)).toBe(999);
    await write(d, data.subarray(1000));
    expect(await settle(length, 2999)).toBe(2999);
    await tick();
    expect(length()).toBe(2999);
    await store(d, data);
    await ended;
    expect(sink.bytes.equals(data)).toBe(true);
  });

  test('readers that join late see the same bytes', async () => {
    const data = randomBytes(5000);
    const d = await newDownload(data.length, { ownSpool, chunks });
    await write(d, data.subarray(0, 4000));
    const early = collect(d);
    await write(d, data.subarray(4000));
    const late = collect(d);
    await store(d, data);
    expect((await early).equals(data)).toBe(true);
    expect((await late).equals(data)).toBe(true);
  });

  test('a failed download fails every reader without delivering the last byte', async () => {
    const data = randomBytes(2000);
    const d = await newDownload(data.length, { ownSpool, chunks });
    const result = collect(d);
    await write(d, data);
    await tick();
    await fail(d, new Error('digest mismatch'));
    await expect(result).rejects.toThrow('digest mismatch');
  });

  test('stored() waits for the outcome: it resolves once stored, and fails with a failed download', async () => {
    const data = randomBytes(2000);
    const good = await newDownload(data.length, { ownSpool, chunks });
    const bad = await newDownload(data.length, { ownSpool, chunks });
    const outcomes: string[] = [];
    const goodStored = good.stored(new Sink()).then(() => outcomes.push('good stored'));
    const badStored = bad.stored(new Sink()).catch((err: Error) => outcomes.push(`bad: ${err.message}`));
    await write(good, data);
    await write(bad, data);
    outcomes.push('all bytes written');
    await fail(bad, new Error('digest mismatch'));
    await store(good, data);
    await Promise.all([goodStored, badStored]);
    expect(outcomes).toEqual(['all bytes written', 'bad: digest mismatch', 'good stored']);
  });

  test('stored() gives up when its client goes away, and the download carries on', async () => {
    const data = randomBytes(2000);
    const d = await newDownload(data.length, { ownSpool, chunks });
    const gone = new Sink();
    const waiting = d.stored(gone);
    await write(d, data.subarray(0, 1000));
    gone.destroy();
    await expect(waiting).rejects.toThrow('closed');
    await write(d, data.subarray(1000));
    await store(d, data);
    await expect(d.stored(new Sink())).resolves.toBeUndefined();
    expect((await collect(d)).equals(data)).toBe(true);
  });

  test('a client that goes away stops its send without disturbing the download', async () => {
    const data = randomBytes(600 * 1024);
    const d = await newDownload(data.length, { ownSpool, chunks });
    const gone = new Sink();
    const sending = d.sendTo(gone);
    await write(d, data.subarray(0, 1000));
    expect(await settle(() => gone.bytes.length, 999)).toBe(999);
    gone.destroy();
    await expect(sending).rejects.toThrow();
    await write(d, data.subarray(1000));
    await store(d, data);
    expect((await collect(d)).equals(data)).toBe(true);
  });

  test('a reader paused by the seal gets the rest from the store; the spool is gone afterwards', async () => {
    const data = randomBytes(4000);
    const d = await newDownload(data.length, { ownSpool, chunks });
    await write(d, data);
    await d.seal();
    const reading = collect(d);
    const h = harness(d);
    await h.writer.commit(digestBuffer(data));
    h.digest = digestBuffer(data);
    await h.spool.close();
    d.succeeded();
    expect((await reading).equals(data)).toBe(true);
    expect((await collect(d)).equals(data)).toBe(true);
    expect(await readdir(join(dir, 'tmp', 'ingest'))).toEqual([]);
    expect(await readdir(join(dir, 'spool')).catch(() => [])).toEqual([]);
  });
});

describe.each([
  ['reading the writer back', false],
  ['with a spool file of its own', true],
])('BlobDownload window, %s', (_name, ownSpool) => {
  test('a reader at the head sends the landed chunks from memory; one that joins far behind reads the spool', async () => {
    const data = randomBytes(9 << 20);
    const d = await newDownload(data.length, { ownSpool });
    const h = harness(d);
    const sink = new Sink();
    const early = d.sendTo(sink);
    for (let at = 0; at < 8 << 20; at += 1 << 20) {
      await write(d, data.subarray(at, at + (1 << 20)));
      // All but the last byte, which waits for the digest.
      await until(() => sink.bytes.length >= at + (1 << 20) - 1);
      expect(sink.bytes.length).toBe(at + (1 << 20) - 1);
    }
    expect(h.spoolReads).toBe(0);
    // The window holds only what the reader at the head may still need: the chunk with the
    // byte it waits behind and the last one, not the 4 MiB it may grow to.
    expect(d.windowed).toBeLessThanOrEqual(2 << 20);
    // 8 MiB landed, the window holds the last MiBs: a reader from byte 0 needs the spool.
    const late = collect(d);
    await until(() => h.spoolReads > 0);
    await write(d, data.subarray(8 << 20));
    await store(d, data);
    await early;
    expect(sink.bytes.equals(data)).toBe(true);
    expect((await late).equals(data)).toBe(true);
  });

  test('the window keeps what a reader that fell behind still needs, up to its 4 MiB', async () => {
    const data = randomBytes(7 << 20);
    const d = await newDownload(data.length, { ownSpool });
    const h = harness(d);
    // A client that takes its first write, then stops reading until let go.
    let release: (() => void) | undefined;
    const received: Buffer[] = [];
    const stalled = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(Buffer.from(chunk));
        if (release === undefined && received.length === 1) release = callback;
        else callback();
      },
    });
    const sending = d.sendTo(stalled);
    await write(d, data.subarray(0, 1 << 20));
    await until(() => release !== undefined);
    for (let at = 1 << 20; at < 3 << 20; at += 1 << 20) await write(d, data.subarray(at, at + (1 << 20)));
    // 3 MiB landed while the reader was held at its first write: all of it is kept for it.
    expect(d.windowed).toBe(3 << 20);
    // Beyond 4 MiB behind, the oldest chunks go (that reader then reads the spool for them).
    for (let at = 3 << 20; at < 6 << 20; at += 1 << 20) await write(d, data.subarray(at, at + (1 << 20)));
    expect(d.windowed).toBe(4 << 20);
    (release as () => void)();
    await until(() => Buffer.concat(received).length >= (6 << 20) - 1);
    expect(h.spoolReads).toBeGreaterThan(0);
    await write(d, data.subarray(6 << 20));
    await store(d, data);
    await sending;
    expect(Buffer.concat(received).equals(data)).toBe(true);
  });
});

describe('BlobDownload readers of a writer that cuts its file back on a failed write', () => {
  // The filesystem writer makes a failed write all or nothing: it truncates its file before
  // the write rejects, so before BlobFetcher seals the download a reader may find fewer bytes
  // in the spool than were written. That reader must hear the download's failure once the
  // download has failed, not an error of its own earlier: a client told early retries while
  // the failing download is still in flight, joins it, and gets its 503 (the flake of
  // proxy-faults' "killed mid-blob").
  test('a reader that finds the spool cut waits for the outcome and gets the download error', async () => {
    const data = randomBytes(2000);
    const d = await newDownload(8000);
    const { writer, spool } = harness(d);
    const reads: number[] = [];
    const read = new EventEmitter();
    const follower = new BlobDownload(
      {
        ...spool,
        readAt: async (buffer, position, length) => {
          const bytes = await spool.readAt(buffer, position, length);
          reads.push(bytes);
          read.emit('read');
          return bytes;
        },
      },
      8000,
      () => Promise.reject(new Error('nothing is stored')),
    );
    const body = new Readable({ read: () => undefined });
    const grew = (total: number): void => follower.grewTo(total);
    const writing = writer.write(body, { landed: grew });
    body.push(data);
    while (follower.written < data.length) await new Promise<void>((resolve) => follower.onChange(resolve));
    body.destroy(new Error('upstream cut'));
    await expect(writing).rejects.toThrow('upstream cut');

    const outcome: string[] = [];
    const reader = collect(follower).catch((err: Error) => outcome.push(`reader: ${err.message}`));
    await once(read, 'read');
    expect(reads).toEqual([0]);
    outcome.push('download failed');
    await follower.seal();
    await writer.cancel();
    follower.failed(new Error('download from upstream failed: upstream cut'));
    await reader;
    expect(outcome).toEqual(['download failed', 'reader: download from upstream failed: upstream cut']);
  });
});
