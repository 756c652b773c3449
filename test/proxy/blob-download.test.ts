import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { BlobDownload } from '../../src/proxy/blob-download.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-download-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

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

async function newDownload(size: number | undefined): Promise<BlobDownload> {
  return new BlobDownload(await open(join(dir, 'blob'), 'w+'), size);
}

async function write(d: BlobDownload, data: Buffer): Promise<void> {
  await d.handle.write(data, 0, data.length, d.written);
  d.grewTo(d.written + data.length);
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

/** Polls until `value()` reaches `target` (or two seconds pass), then returns it. */
async function settle(value: () => number, target: number): Promise<number> {
  for (let i = 0; i < 400 && value() < target; i++) await tick();
  return value();
}

describe('BlobDownload readers', () => {
  test('a reader gets every byte as the download grows, the last one only after verification', async () => {
    const data = randomBytes(3000);
    const d = await newDownload(data.length);
    const sink = new Sink();
    const ended = d.sendTo(sink);
    const length = (): number => sink.bytes.length;
    await write(d, data.subarray(0, 1000));
    expect(await settle(length, 999)).toBe(999);
    await write(d, data.subarray(1000));
    expect(await settle(length, 2999)).toBe(2999);
    await tick();
    expect(length()).toBe(2999);
    d.succeeded();
    await ended;
    expect(sink.bytes.equals(data)).toBe(true);
    d.release();
  });

  test('readers that join late see the same bytes', async () => {
    const data = randomBytes(5000);
    const d = await newDownload(data.length);
    await write(d, data.subarray(0, 4000));
    const early = collect(d);
    await write(d, data.subarray(4000));
    const late = collect(d);
    d.succeeded();
    expect((await early).equals(data)).toBe(true);
    expect((await late).equals(data)).toBe(true);
    d.release();
  });

  test('a failed download fails every reader without delivering the last byte', async () => {
    const data = randomBytes(2000);
    const d = await newDownload(data.length);
    const result = collect(d);
    await write(d, data);
    await tick();
    d.failed(new Error('digest mismatch'));
    await expect(result).rejects.toThrow('digest mismatch');
    d.release();
  });

  test('stored() waits for the outcome: it resolves once stored, and fails with a failed download', async () => {
    const data = randomBytes(2000);
    const good = await newDownload(data.length);
    const bad = await newDownload(data.length);
    const outcomes: string[] = [];
    const goodStored = good.stored(new Sink()).then(() => outcomes.push('good stored'));
    const badStored = bad.stored(new Sink()).catch((err: Error) => outcomes.push(`bad: ${err.message}`));
    await write(good, data);
    await write(bad, data);
    outcomes.push('all bytes written');
    bad.failed(new Error('digest mismatch'));
    good.succeeded();
    await Promise.all([goodStored, badStored]);
    expect(outcomes).toEqual(['all bytes written', 'bad: digest mismatch', 'good stored']);
    good.release();
    bad.release();
  });

  test('stored() gives up when its client goes away, and the download carries on', async () => {
    const data = randomBytes(2000);
    const d = await newDownload(data.length);
    const gone = new Sink();
    const waiting = d.stored(gone);
    await write(d, data.subarray(0, 1000));
    gone.destroy();
    await expect(waiting).rejects.toThrow('closed');
    await write(d, data.subarray(1000));
    d.succeeded();
    await expect(d.stored(new Sink())).resolves.toBeUndefined();
    expect((await collect(d)).equals(data)).toBe(true);
    d.release();
  });

  test('a client that goes away stops its send without disturbing the download', async () => {
    const data = randomBytes(600 * 1024);
    const d = await newDownload(data.length);
    const gone = new Sink();
    const sending = d.sendTo(gone);
    await write(d, data.subarray(0, 1000));
    expect(await settle(() => gone.bytes.length, 999)).toBe(999);
    gone.destroy();
    await expect(sending).rejects.toThrow();
    await write(d, data.subarray(1000));
    d.succeeded();
    expect((await collect(d)).equals(data)).toBe(true);
    d.release();
  });
});
