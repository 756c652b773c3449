/**
 * A 2 GiB blob pushed (monolithic and chunked) and pulled through a separate Keel process:
 * the bytes round-trip and the server's peak resident memory stays flat.
 */
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnKeel, type KeelChild } from '../support/keel-process.js';
import { generated, patchInChunks, send as sendTo } from '../support/generated-blob.js';
import { streamPull } from '../support/stream-pull.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SIZE = 2 * GiB;
const PEAK_RSS_LIMIT = 150 * MiB;

let keel: KeelChild;
beforeAll(async () => {
  keel = await spawnKeel();
});
afterAll(() => keel.stop());

const send = (method: string, path: string, body: Readable | undefined, headers: Record<string, string> = {}) => sendTo(keel.url, method, path, body, headers);

describe('a 2 GiB blob', () => {
  test('monolithic push and pull round-trip with flat server memory', async () => {
    const blob = generated(SIZE);
    const put = await send('POST', `/v2/big/mono/blobs/uploads/?digest=${blob.digest}`, blob.stream(), {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(SIZE),
    });
    expect(put.status).toBe(201);
    const pulled = await streamPull(`${keel.url}/v2/big/mono/blobs/${blob.digest}`);
    expect(pulled).toEqual({ status: 200, digest: blob.digest, bytes: SIZE });
    expect(await keel.peakRss()).toBeLessThan(PEAK_RSS_LIMIT);
  }, 300_000);

  test('chunked push in 256 MiB PATCHes with flat server memory', async () => {
    const blob = generated(SIZE);
    const start = await send('POST', '/v2/big/chunked/blobs/uploads/', undefined);
    expect(start.status).toBe(202);
    const location = start.headers.location as string;
    expect(await patchInChunks(keel.url, location, blob.stream(), 256 * MiB)).toBe(SIZE);
    const done = await send('PUT', `${location}?digest=${blob.digest}`, undefined);
    expect(done.status).toBe(201);
    const head = await send('HEAD', `/v2/big/chunked/blobs/${blob.digest}`, undefined);
    expect(head.headers['content-length']).toBe(String(SIZE));
    expect(await keel.peakRss()).toBeLessThan(PEAK_RSS_LIMIT);
  }, 300_000);
});
