// The S3 backend against a real Ceph RGW (test/support/s3-server.ts): what only an object
// store has (presigned URLs, sessions continued by another store instance, small PATCHes
// buffered into 5 MiB parts, abandoned multipart uploads, GC without an atomic rename), and
// the memory of 2 GiB transfers, measured in a child process.
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { CreateMultipartUploadCommand, DeleteObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { StorageBackend } from '../../src/storage/backend.js';
import { createS3Backend, type S3BackendOptions } from '../../src/storage/s3/s3-backend.js';
import { createS3Client } from '../../src/storage/s3/s3-client.js';
import { BlobDigestMismatchError, BlobNotFoundError, ContentIntegrityError } from '../../src/storage/storage-errors.js';
import type { Digest } from '../../src/primitives/types.js';
import { startS3, type S3Server } from '../support/s3-server.js';
import type { MakeBackend } from './contract/backend-factory.js';
import { blobStoreContract } from './contract/blob-store.contract.js';
import { uploadStoreContract } from './contract/upload-store.contract.js';

jest.setTimeout(300_000);

const MiB = 1024 * 1024;
const BUCKET = 'keel-test';
let s3: S3Server;
const clients: S3Client[] = [];
let prefixes = 0;

function newClient(): S3Client {
  const client = createS3Client({ endpoint: s3.endpoint, region: s3.region, force_path_style: true, access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey }, {});
  clients.push(client);
  return client;
}

/** A backend on its own prefix (a second one on the same prefix with `prefix`). */
function backend(options: Partial<S3BackendOptions> = {}): StorageBackend & { prefix: string; client: S3Client } {
  const prefix = options.prefix ?? `t${++prefixes}/keel`;
  const client = options.client ?? newClient();
  return { ...createS3Backend({ client, bucket: BUCKET, prefix, ...options }), prefix, client };
}

function sha256(...parts: Buffer[]): Digest {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return `sha256:${h.digest('hex')}` as Digest;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A source that yields `bytes` in chunks of `chunk`, then fails. */
function failingAfter(bytes: Buffer, chunk = 64 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= bytes.length) {
        this.destroy(new Error('client went away'));
        return;
      }
      this.push(bytes.subarray(offset, offset + chunk));
      offset += chunk;
    },
  });
}

async function keysUnder(client: S3Client, prefix: string): Promise<string[]> {
  const r = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key ?? '');
}

beforeAll(async () => {
  s3 = await startS3({ memoryBytes: 8 * 1024 ** 3 });
  await s3.createBucket(BUCKET);
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await s3?.stop();
});

// The shared contract suites, each test on a fresh prefix of the same bucket.
const makeS3: MakeBackend = async () => ({ backend: backend(), cleanup: async () => undefined });
blobStoreContract('S3 (Ceph RGW)', makeS3, { redirects: true });
uploadStoreContract('S3 (Ceph RGW)', makeS3);

describe('S3 blob store', () => {
  test('a writer streams pieces, commit makes the checked bytes visible; reader ranges, send and readBytes', async () => {
    const b = backend({ tuning: { partSize: 5 * MiB, inFlight: 2, minPart: 5 * MiB } });
    await b.ready();
    const first = randomBytes(7 * MiB + 3);
    const second = randomBytes(6 * MiB);
    const digest = sha256(first, second);
    const writer = await b.blobs.writer();
    const landed: number[] = [];
    expect(await writer.write(Readable.from([first]), { landed: (n) => landed.push(n) })).toBe(first.length);
    expect(await writer.write(Readable.from([second]))).toBe(second.length);
    expect(writer.size).toBe(first.length + second.length);
    expect(landed).toEqual([5 * MiB, first.length]);
    // Bytes written are readable before commit (a piece, and the rest held in memory).
    const probe = Buffer.alloc(10);
    expect(await writer.readAt?.(probe, 5 * MiB - 5, 10)).toBe(5);
    expect(probe.subarray(0, 5)).toEqual(first.subarray(5 * MiB - 5, 5 * MiB));
    expect(await b.blobs.size(digest)).toBeUndefined();
    await writer.commit(digest);

    expect(await b.blobs.size(digest)).toBe(first.length + second.length);
    await b.blobs.verify(digest, first.length + second.length);
    await expect(b.blobs.verify(digest, 1)).rejects.toBeInstanceOf(ContentIntegrityError);
    expect(sha256(await collect(await b.blobs.reader(digest)))).toBe(digest);
    expect(await collect(await b.blobs.reader(digest, { start: 7 * MiB, end: 7 * MiB + 9 }))).toEqual(Buffer.concat([first, second]).subarray(7 * MiB, 7 * MiB + 10));
    const sent: Buffer[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (sent.push(c), cb()) });
    await b.blobs.send(digest, sink, first.length + second.length, { start: 1, end: 4 });
    expect(Buffer.concat(sent)).toEqual(first.subarray(1, 5));
    await expect(b.blobs.send(digest, sink, 12, undefined)).rejects.toBeInstanceOf(ContentIntegrityError);
    await expect(b.blobs.readBytes(digest, MiB)).rejects.toThrow('more than');
    // Nothing of the writer stays behind.
    expect(await keysUnder(b.client, `${b.prefix}/ingest/`)).toEqual([]);
    expect(await keysUnder(b.client, `${b.prefix}/blobs/`)).toHaveLength(1);
  });

  test('a digest that does not match leaves nothing visible and nothing behind; missing content is BlobNotFoundError', async () => {
    const b = backend({ tuning: { partSize: 5 * MiB, inFlight: 2, minPart: 5 * MiB } });
    const bytes = randomBytes(11 * MiB);
    const claimed = sha256(Buffer.from('something else'));
    const writer = await b.blobs.writer();
    await writer.write(Readable.from([bytes]));
    await expect(writer.commit(claimed)).rejects.toBeInstanceOf(BlobDigestMismatchError);
    expect(await b.blobs.size(claimed)).toBeUndefined();
    expect(await keysUnder(b.client, `${b.prefix}/`)).toEqual([]);
    await expect(b.blobs.reader(claimed)).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(b.blobs.readBytes(claimed, 10)).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(b.blobs.send(claimed, new Writable({ write: (_c, _e, cb) => cb() }), 5)).rejects.toBeInstanceOf(ContentIntegrityError);
    await expect(b.blobs.writeBytes(claimed, bytes.subarray(0, 10))).rejects.toBeInstanceOf(BlobDigestMismatchError);
    expect(await b.blobs.remove(claimed)).toBe(false);
  });

  test('verify trusts a size it saw for a minute (one HEAD, not one per blob HEAD); an object gone behind its back is noticed after that', async () => {
    let now = 1_000_000;
    const b = backend({ clock: { now: () => now } });
    const bytes = randomBytes(4096);
    const digest = sha256(bytes);
    await b.blobs.writeBytes(digest, bytes);
    await b.blobs.verify(digest, bytes.length);
    await expect(b.blobs.verify(digest, bytes.length + 1)).rejects.toBeInstanceOf(ContentIntegrityError);
    await b.blobs.verify(digest, bytes.length);
    // Deleted by someone else (damage): within the minute the memo answers, after it a HEAD does.
    await b.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: (await keysUnder(b.client, `${b.prefix}/blobs/`))[0] }));
    now += 59_000;
    await b.blobs.verify(digest, bytes.length);
    now += 1_000;
    await expect(b.blobs.verify(digest, bytes.length)).rejects.toBeInstanceOf(ContentIntegrityError);
    // Removal through the store forgets at once.
    await b.blobs.writeBytes(digest, bytes);
    await b.blobs.verify(digest, bytes.length);
    expect(await b.blobs.remove(digest)).toBe(true);
    await expect(b.blobs.verify(digest, bytes.length)).rejects.toBeInstanceOf(ContentIntegrityError);
  });

  test('a presigned URL serves the blob (with Range) and is refused once expired', async () => {
    let now = Date.now();
    const b = backend({ redirectTtlSeconds: 60, clock: { now: () => now } });
    const bytes = Buffer.from('{"presigned":true}');
    const digest = sha256(bytes);
    await b.blobs.writeBytes(digest, bytes);
    const url = await b.blobs.redirectUrl?.(digest);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    const whole = await fetch(url ?? '');
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(bytes);
    const part = await fetch(url ?? '', { headers: { Range: 'bytes=2-10' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(bytes.subarray(2, 11));
    // Signed an hour ago with a minute to live: expired by the server's clock.
    now -= 3600_000;
    const stale = await b.blobs.redirectUrl?.(digest);
    expect((await fetch(stale ?? '')).status).toBe(403);
    expect(await backend({ redirect: false }).blobs.redirectUrl?.(digest)).toBeUndefined();
  });
});

describe('S3 upload store', () => {
  test('a session survives a restart: a new store instance continues it and re-hashes what is stored', async () => {
    const a = backend();
    const id = 'restart-1';
    await a.uploads.create(id);
    const first = randomBytes(21 * MiB + 17);
    expect(await a.uploads.append(id, 0, Readable.from([first]))).toBe(first.length);
    await a.close();
    const b = backend({ prefix: a.prefix });
    expect(await b.uploads.size(id)).toBe(first.length);
    const second = randomBytes(3 * MiB);
    expect(await b.uploads.append(id, first.length, Readable.from([second]))).toBe(second.length);
    const digest = sha256(first, second);
    expect(await b.uploads.digest(id, 'sha256')).toBe(digest);
    const c = backend({ prefix: a.prefix });
    expect(await c.uploads.digest(id, 'sha256')).toBe(digest);
    await c.uploads.commit(id, digest);
    expect(sha256(await collect(await c.blobs.reader(digest)))).toBe(digest);
    expect(await c.uploads.size(id)).toBeUndefined();
    expect(await keysUnder(c.client, `${a.prefix}/uploads/`)).toEqual([]);
  });

  test('100 PATCHes of 100 KiB, then 12 MiB, then finish: the right digest and bytes', async () => {
    const b = backend();
    const id = 'small-patches';
    await b.uploads.create(id);
    const chunks: Buffer[] = [];
    let offset = 0;
    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      const chunk = randomBytes(100 * 1024);
      chunks.push(chunk);
      offset += await b.uploads.append(id, offset, Readable.from([chunk]));
    }
    const smallSeconds = (performance.now() - started) / 1000;
    const big = randomBytes(12 * MiB);
    chunks.push(big);
    offset += await b.uploads.append(id, offset, Readable.from([big]));
    const all = Buffer.concat(chunks);
    expect(offset).toBe(all.length);
    expect(await b.uploads.size(id)).toBe(all.length);
    const digest = sha256(all);
    expect(await b.uploads.digest(id, 'sha256')).toBe(digest);
    expect(await b.uploads.digest(id, 'sha512')).toBe(`sha512:${createHash('sha512').update(all).digest('hex')}`);
    await b.uploads.commit(id, digest);
    // Buffer.equals: jest's toEqual walks a 22 MiB buffer byte by byte.
    expect((await collect(await b.blobs.reader(digest))).equals(all)).toBe(true);
    console.log(`small PATCHes: 100 x 100 KiB in ${smallSeconds.toFixed(2)} s (${(10000 / 1024 / smallSeconds).toFixed(1)} MiB/s, ${(smallSeconds * 10).toFixed(1)} ms each)`);
  });

  test('an append that fails half way leaves the session at its acknowledged size; the retry completes it', async () => {
    const b = backend();
    const id = 'failing';
    await b.uploads.create(id);
    const first = randomBytes(3 * MiB);
    await b.uploads.append(id, 0, Readable.from([first]));
    const second = randomBytes(40 * MiB);
    const landed: number[] = [];
    await expect(b.uploads.append(id, first.length, failingAfter(second.subarray(0, 37 * MiB)), Infinity, (n) => landed.push(n))).rejects.toThrow('client went away');
    // Pieces of the failed append reached the bucket (landed heard them), yet do not count.
    expect(landed.length).toBeGreaterThan(0);
    expect(await b.uploads.size(id)).toBe(first.length);
    expect(await backend({ prefix: b.prefix }).uploads.size(id)).toBe(first.length);
    await expect(b.uploads.append(id, 0, Readable.from([second]))).rejects.toThrow('not 0');
    expect(await b.uploads.append(id, first.length, Readable.from([second]), 40 * MiB)).toBe(second.length);
    const digest = sha256(first, second);
    expect(await b.uploads.digest(id, 'sha256')).toBe(digest);
    await expect(b.uploads.append(id, first.length + second.length, Readable.from([Buffer.alloc(11)]), 10)).rejects.toThrow('more than 10 bytes');
    expect(await b.uploads.size(id)).toBe(first.length + second.length);
    const sessions = [];
    for await (const s of b.uploads.list()) sessions.push(s);
    expect(sessions.map((s) => [s.id, s.size])).toEqual([[id, first.length + second.length]]);
    await b.uploads.commit(id, digest);
    expect(sha256(await collect(await b.blobs.reader(digest)))).toBe(digest);
    expect(await keysUnder(b.client, `${b.prefix}/uploads/`)).toEqual([]);
  });
});

describe('S3 GC view', () => {
  test('abandoned multipart uploads and writer pieces are swept once older than the cutoff, not before', async () => {
    const b = backend({ tuning: { partSize: 5 * MiB, inFlight: 2, minPart: 5 * MiB } });
    const abandoned = await b.blobs.writer();
    await abandoned.write(Readable.from([randomBytes(6 * MiB)]));
    const key = `${b.prefix}/blobs/sha256/ab/ab${'0'.repeat(62)}`;
    const created = await b.client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
    await b.client.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: created.UploadId, PartNumber: 1, Body: randomBytes(1000), ContentLength: 1000 }));
    const uploads = async (): Promise<number> => (await b.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `${b.prefix}/` }))).Uploads?.length ?? 0;

    expect(await b.blobs.sweepLeftovers(Date.now() - 3600_000)).toBe(0);
    expect(await uploads()).toBe(1);
    expect(await keysUnder(b.client, `${b.prefix}/ingest/`)).toHaveLength(1);

    expect(await b.blobs.sweepLeftovers(Date.now() + 60_000)).toBe(1000 + 5 * MiB);
    expect(await uploads()).toBe(0);
    expect(await keysUnder(b.client, `${b.prefix}/ingest/`)).toEqual([]);
  });

  test('removeUnwanted keeps fresh, wanted and re-committed content and removes the rest', async () => {
    const b = backend();
    const bytes = randomBytes(1000);
    const digest = sha256(bytes);
    await b.blobs.writeBytes(digest, bytes);
    const listed = [];
    for await (const s of b.blobs.list()) listed.push(s);
    expect(listed.map((s) => [s.digest, s.size])).toEqual([[digest, 1000]]);

    // Written after the cutoff: kept without asking the index.
    let asked = 0;
    expect(await b.blobs.removeUnwanted(digest, Date.now() - 60_000, () => (asked++, false))).toBe(0);
    expect(asked).toBe(0);
    // Old enough, but the index wants it.
    expect(await b.blobs.removeUnwanted(digest, Date.now() + 60_000, () => true)).toBe(0);
    expect(await b.blobs.size(digest)).toBe(1000);

    // A push re-commits the content while GC removes it, and its index row appears before
    // GC's re-check: the content is put back.
    let rowInserted = false;
    const freed = await b.blobs.removeUnwanted(digest, Date.now() + 60_000, async () => {
      if (asked++ === 0) {
        const w = await b.blobs.writer();
        await w.write(Readable.from([bytes]));
        await w.commit(digest);
        rowInserted = true;
        return false; // the first look was before the row
      }
      return rowInserted;
    });
    expect(freed).toBe(0);
    expect(await b.blobs.readBytes(digest, 2000)).toEqual(bytes);
    expect(await keysUnder(b.client, `${b.prefix}/trash/`)).toEqual([]);

    // Nobody wants it: removed, and the bytes freed reported.
    expect(await b.blobs.removeUnwanted(digest, Date.now() + 60_000, () => false)).toBe(1000);
    expect(await b.blobs.size(digest)).toBeUndefined();
    expect(await b.blobs.removeUnwanted(digest, Date.now() + 60_000, () => false)).toBe(0);
    expect(await keysUnder(b.client, `${b.prefix}/`)).toEqual([]);
  });
});
