import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { BlobDownload } from '../../src/proxy/blob-download.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-download-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function newDownload(size: number | undefined): Promise<BlobDownload> {
  return new BlobDownload(await open(join(dir, 'blob'), 'w+'), size);
}

async function write(d: BlobDownload, data: Buffer): Promise<void> {
  await d.handle.write(data, 0, data.length, d.written);
  d.progressed(data.length);
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
    const reader = d.reader();
    const received: Buffer[] = [];
    reader.on('data', (c: Buffer) => received.push(c));
    const ended = new Promise((r) => reader.once('end', r));
    const length = (): number => Buffer.concat(received).length;
    await write(d, data.subarray(0, 1000));
    expect(await settle(length, 999)).toBe(999);
    await write(d, data.subarray(1000));
    expect(await settle(length, 2999)).toBe(2999);
    await tick();
    expect(length()).toBe(2999);
    d.succeeded();
    await ended;
    expect(Buffer.concat(received).equals(data)).toBe(true);
    d.release();
  });

  test('readers that join late, and ranges, see the same bytes', async () => {
    const data = randomBytes(5000);
    const d = await newDownload(data.length);
    await write(d, data.subarray(0, 4000));
    const early = collect(d.reader());
    const range = collect(d.reader({ start: 100, end: 199 }));
    await write(d, data.subarray(4000));
    const late = collect(d.reader());
    d.succeeded();
    expect((await early).equals(data)).toBe(true);
    expect((await late).equals(data)).toBe(true);
    expect((await range).equals(data.subarray(100, 200))).toBe(true);
    d.release();
  });

  test('a failed download fails every reader without delivering the last byte', async () => {
    const data = randomBytes(2000);
    const d = await newDownload(data.length);
    const reader = d.reader();
    const result = collect(reader);
    await write(d, data);
    await tick();
    d.failed(new Error('digest mismatch'));
    await expect(result).rejects.toThrow('digest mismatch');
    d.release();
  });
});
