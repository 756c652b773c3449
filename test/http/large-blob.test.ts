/**
 * A 2 GiB blob pushed (monolithic and chunked) and pulled through a separate Keel process:
 * the bytes round-trip and the server's peak resident memory stays flat.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnKeel, type KeelChild } from '../support/keel-process.js';
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

/** `size` bytes made of a random 1 MiB block with a counter stamped in, so no block repeats. */
function generated(size: number): { stream: () => Readable; digest: string } {
  const block = randomBytes(MiB);
  const chunk = (i: number): Buffer => {
    const b = Buffer.from(block.subarray(0, Math.min(MiB, size - i * MiB)));
    if (b.length >= 8) b.writeBigUInt64LE(BigInt(i));
    return b;
  };
  const hash = createHash('sha256');
  const count = Math.ceil(size / MiB);
  for (let i = 0; i < count; i++) hash.update(chunk(i));
  const stream = (): Readable =>
    Readable.from(
      (function* () {
        for (let i = 0; i < count; i++) yield chunk(i);
      })(),
    );
  return { stream, digest: `sha256:${hash.digest('hex')}` };
}

function send(method: string, path: string, body: Readable | undefined, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${keel.url}${path}`, { method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

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
    const source = blob.stream();
    const CHUNK = 256 * MiB;
    let offset = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      const body = Readable.from(pending);
      const res = await send('PATCH', location, body, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(pendingBytes),
        'Content-Range': `${offset}-${offset + pendingBytes - 1}`,
      });
      expect(res.status).toBe(202);
      offset += pendingBytes;
      pending = [];
      pendingBytes = 0;
    };
    for await (const chunk of source) {
      pending.push(chunk as Buffer);
      pendingBytes += (chunk as Buffer).length;
      if (pendingBytes >= CHUNK) await flush();
    }
    if (pendingBytes > 0) await flush();
    const done = await send('PUT', `${location}?digest=${blob.digest}`, undefined);
    expect(done.status).toBe(201);
    const head = await send('HEAD', `/v2/big/chunked/blobs/${blob.digest}`, undefined);
    expect(head.headers['content-length']).toBe(String(SIZE));
    expect(await keel.peakRss()).toBeLessThan(PEAK_RSS_LIMIT);
  }, 300_000);
});
