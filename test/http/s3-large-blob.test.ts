/**
 * A 2 GiB blob pushed (monolithic and chunked) and pulled through a separate Keel process
 * whose registry store is a real S3 bucket (Ceph RGW), with `redirect = false` so the pull's
 * bytes pass through Keel too: the bytes round-trip and the server's peak resident memory
 * stays flat. Throughput is printed.
 *
 * The bound: on disk Keel stays under 150 MiB (large-blob.test.ts); on S3 a transfer holds
 * at most (inFlight + 1) pieces of 16 MiB (s3-tuning.ts, piece-spool.ts), 48 MiB, on top of
 * the same process plus the AWS SDK, and each PATCH's append takes fresh piece buffers that V8
 * frees when it collects, not at once. Measured on the 2-core test machine: 175 MiB after the
 * monolithic push and pull, 212 MiB after the chunked one. 300 MiB (the bound of
 * test/storage/s3-memory.test.ts) leaves about 40% above that for a collector that runs later
 * on a loaded machine, and is still seven times below the blob: a transfer that buffered
 * even a seventh of it would fail.
 */
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { generated, patchInChunks, send } from '../support/generated-blob.js';
import { keelS3Storage } from '../support/keel-on-s3.js';
import { spawnKeel, type KeelChild } from '../support/keel-process.js';
import { startS3, type S3Server } from '../support/s3-server.js';
import { s3Admin } from '../support/s3-admin.js';
import { streamPull } from '../support/stream-pull.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SIZE = 2 * GiB;
const PEAK_RSS_LIMIT = 300 * MiB;

let s3: S3Server;
let admin: S3Client;
let keel: KeelChild;
let bucket: string;

beforeAll(async () => {
  // The OSD keeps data in RAM: a blob's pieces and its assembled object are 4 GiB at once,
  // and deleted data is freed by RGW's GC some seconds later.
  s3 = await startS3({ memoryBytes: 10 * GiB });
  admin = s3Admin(s3);
  const storage = await keelS3Storage(s3, { redirect: false });
  bucket = storage.bucket;
  keel = await spawnKeel(storage.toml);
}, 120_000);
afterAll(async () => {
  await keel?.stop();
  admin?.destroy();
  await s3?.stop();
});

const seconds = (since: number): number => (performance.now() - since) / 1000;
const rate = (s: number): string => `${(SIZE / MiB / s).toFixed(0)} MiB/s`;

/** Frees the RGW memory the blob holds before the next step. */
async function dropObject(digest: string): Promise<void> {
  const hex = digest.slice('sha256:'.length);
  await admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: `registry/blobs/sha256/${hex.slice(0, 2)}/${hex}` }));
}

describe('a 2 GiB blob on S3', () => {
  test('monolithic push and pull through Keel round-trip with flat server memory', async () => {
    const blob = generated(SIZE);
    let t = performance.now();
    const put = await send(keel.url, 'POST', `/v2/big/mono/blobs/uploads/?digest=${blob.digest}`, blob.stream(), {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(SIZE),
    });
    expect(put.status).toBe(201);
    const push = seconds(t);
    t = performance.now();
    const pulled = await streamPull(`${keel.url}/v2/big/mono/blobs/${blob.digest}`);
    const pull = seconds(t);
    expect(pulled).toEqual({ status: 200, digest: blob.digest, bytes: SIZE });
    const peak = await keel.peakRss();
    console.log(`S3, 2 GiB monolithic: push ${rate(push)} (${push.toFixed(1)} s), pull ${rate(pull)} (${pull.toFixed(1)} s), Keel peak RSS ${(peak / MiB).toFixed(0)} MiB`);
    expect(peak).toBeLessThan(PEAK_RSS_LIMIT);
    await dropObject(blob.digest);
  }, 600_000);

  test('chunked push in 256 MiB PATCHes and pull through Keel with flat server memory', async () => {
    const blob = generated(SIZE);
    let t = performance.now();
    const start = await send(keel.url, 'POST', '/v2/big/chunked/blobs/uploads/', undefined);
    expect(start.status).toBe(202);
    const location = start.headers.location as string;
    expect(await patchInChunks(keel.url, location, blob.stream(), 256 * MiB)).toBe(SIZE);
    const done = await send(keel.url, 'PUT', `${location}?digest=${blob.digest}`, undefined);
    expect(done.status).toBe(201);
    const push = seconds(t);
    t = performance.now();
    const pulled = await streamPull(`${keel.url}/v2/big/chunked/blobs/${blob.digest}`);
    const pull = seconds(t);
    expect(pulled).toEqual({ status: 200, digest: blob.digest, bytes: SIZE });
    const peak = await keel.peakRss();
    console.log(`S3, 2 GiB chunked (256 MiB PATCHes): push ${rate(push)} (${push.toFixed(1)} s), pull ${rate(pull)} (${pull.toFixed(1)} s), Keel peak RSS ${(peak / MiB).toFixed(0)} MiB (peak of the process over both tests)`);
    expect(peak).toBeLessThan(PEAK_RSS_LIMIT);
    await dropObject(blob.digest);
  }, 600_000);
});
