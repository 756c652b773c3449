// Blob reads from a real radosgw that drops a GET whose reader stalls (its beast frontend's
// request_timeout_ms, 65 s by default, set to 3 s here): a client that pauses longer than the
// object store waits still gets every byte, through a ranged GET from where the first ended
// (src/storage/s3/resuming-body.ts). The stall lasts until radosgw logged the dropped GET, so
// the drop is seen, not assumed from a timing margin.
import { createHash, randomBytes } from 'node:crypto';
import { Writable, type Readable } from 'node:stream';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import type { StorageBackend } from '../../src/storage/backend.js';
import { createS3Backend } from '../../src/storage/s3/s3-backend.js';
import { createS3Client } from '../../src/storage/s3/s3-client.js';
import type { Digest } from '../../src/primitives/types.js';
import { startS3, type S3Server } from '../support/s3-server.js';

jest.setTimeout(300_000);

const SIZE = 64 * 1024 ** 2;
const BUCKET = 'keel-test';
let s3: S3Server;
let backend: StorageBackend;
let prefixes = 0;

beforeAll(async () => {
  s3 = await startS3({ memoryBytes: 1024 ** 3, requestTimeoutMs: 3000 });
  await s3.createBucket(BUCKET);
});
afterAll(async () => {
  await backend?.close();
  await s3?.stop();
});

/** A new blob of SIZE random bytes on a prefix of its own. */
async function storedBlob(): Promise<{ digest: Digest; bytes: Buffer; hex: string }> {
  backend ??= createS3Backend({
    client: createS3Client({ endpoint: s3.endpoint, region: s3.region, force_path_style: true, access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey }, {}),
    bucket: BUCKET,
    prefix: 'keel',
  });
  const bytes = randomBytes(SIZE);
  bytes.write(`blob ${++prefixes}`);
  const hex = createHash('sha256').update(bytes).digest('hex');
  const digest = `sha256:${hex}` as Digest;
  await backend.blobs.writeBytes(digest, bytes);
  return { digest, bytes, hex };
}

interface LoggedGet {
  status: number;
  bytes: number;
  range: string;
}

/** radosgw's access lines for GETs of the blob, in order. */
async function getsOf(hex: string): Promise<LoggedGet[]> {
  const lines = (await s3.rgwLog()).split('\n').filter((l) => l.includes(`"GET /${BUCKET}/`) && l.includes(hex));
  return lines.map((l) => {
    const m = /HTTP\/1\.1" (\d+) (\d+) /.exec(l);
    if (!m) throw new Error(`unexpected access line: ${l}`);
    return { status: Number(m[1]), bytes: Number(m[2]), range: /" (bytes=\d+-\d+) latency=/.exec(l)?.[1] ?? '' };
  });
}

/** Resolves once radosgw logged `count` GETs of the blob (it logs a GET when it ends, dropped or not). */
async function loggedGets(hex: string, count: number): Promise<void> {
  while ((await getsOf(hex)).length < count) await new Promise((r) => setTimeout(r, 200));
}

/** A destination that takes bytes at once, but holds its first write past 1 MiB until `release` resolves. */
function stallingDest(release: () => Promise<void>): { dest: Writable; digest: () => string; bytes: () => number } {
  const hash = createHash('sha256');
  let received = 0;
  let stalled = false;
  const dest = new Writable({
    write(chunk: Buffer, _encoding, done) {
      received += chunk.length;
      hash.update(chunk);
      if (!stalled && received > 1024 ** 2) {
        stalled = true;
        release().then(() => done(), done);
      } else done();
    },
  });
  return { dest, digest: () => `sha256:${hash.digest('hex')}`, bytes: () => received };
}

/** What the first GET sent was short of the object, and the next GET asked for the rest with a range. */
function expectResumed(gets: LoggedGet[]): void {
  expect(gets.length).toBeGreaterThanOrEqual(2);
  expect(gets[0]).toMatchObject({ status: 200, range: '' });
  expect(gets[0]!.bytes).toBeLessThan(SIZE);
  expect(gets[1]!.status).toBe(206);
  expect(gets[1]!.range).toMatch(/^bytes=[1-9]\d*-67108863$/);
}

test('send: a client that stalls longer than radosgw waits gets every byte, the rest through a ranged GET', async () => {
  const blob = await storedBlob();
  const sink = stallingDest(() => loggedGets(blob.hex, 1));
  await backend.blobs.send(blob.digest, sink.dest, SIZE);
  expect(sink.bytes()).toBe(SIZE);
  expect(sink.digest()).toBe(blob.digest);
  expectResumed(await getsOf(blob.hex));
});

test('reader: a stream read with a long pause gives every byte, the rest through a ranged GET', async () => {
  const blob = await storedBlob();
  const reader: Readable = await backend.blobs.reader(blob.digest);
  const sink = stallingDest(() => loggedGets(blob.hex, 1));
  await new Promise<void>((resolve, reject) => {
    reader.on('error', reject);
    sink.dest.on('error', reject);
    sink.dest.on('finish', resolve);
    reader.pipe(sink.dest);
  });
  expect(sink.bytes()).toBe(SIZE);
  expect(sink.digest()).toBe(blob.digest);
  expectResumed(await getsOf(blob.hex));
});

test('a range: resumed within the range, never past its end', async () => {
  const blob = await storedBlob();
  const range = { start: 5 * 1024 ** 2, end: 50 * 1024 ** 2 - 1 };
  const sink = stallingDest(() => loggedGets(blob.hex, 1));
  await backend.blobs.send(blob.digest, sink.dest, SIZE, range);
  expect(sink.bytes()).toBe(range.end - range.start + 1);
  expect(sink.digest()).toBe(`sha256:${createHash('sha256').update(blob.bytes.subarray(range.start, range.end + 1)).digest('hex')}`);
  const gets = await getsOf(blob.hex);
  expect(gets.length).toBeGreaterThanOrEqual(2);
  expect(gets[0]!.range).toBe(`bytes=${range.start}-${range.end}`);
  const resumedAt = Number(/^bytes=(\d+)-(\d+)$/.exec(gets[1]!.range)?.[1]);
  expect(resumedAt).toBeGreaterThan(range.start);
  expect(gets[1]!.range).toBe(`bytes=${resumedAt}-${range.end}`);
});

test('an object deleted while its reader stalled: the read fails as an S3 request error, not as a client that left', async () => {
  const blob = await storedBlob();
  const sink = stallingDest(async () => {
    await loggedGets(blob.hex, 1);
    await backend.blobs.remove(blob.digest);
  });
  const failure = await backend.blobs.send(blob.digest, sink.dest, SIZE).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(failure).toMatchObject({ name: 'S3RequestError', operation: 'GetObject', s3Code: 'NoSuchKey' });
  expect((failure as NodeJS.ErrnoException).code).toBeUndefined();
  expect(sink.bytes()).toBeLessThan(SIZE);
});
