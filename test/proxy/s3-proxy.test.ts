/**
 * The pull-through cache with its store in a real S3 bucket (Ceph RGW): a cold miss streams to
 * the client while it is stored (the client has bytes before the upstream finished, and the
 * object appears under its digest key only once the download is verified); an upstream that
 * lies about a digest or cuts the body leaves no object under the digest key and nothing a GC
 * would still have to sweep; the next GET is a cache hit. With `redirect` on, a cache hit is a
 * 307 to a presigned URL, but only for a repository Keel would have served the bytes to: a
 * repository the upstream does not show the blob in gets BLOB_UNKNOWN and no URL.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { runGc } from '../../src/gc/run-gc.js';
import { systemClock } from '../../src/primitives/clock.js';
import { serveBytes, startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { keelS3Storage } from '../support/keel-on-s3.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { errorCode, sha256 } from '../support/oci-client.js';
import { startS3, type S3Server } from '../support/s3-server.js';
import { s3Admin } from '../support/s3-admin.js';
import { streamPull } from '../support/stream-pull.js';

const MiB = 1024 ** 2;
/** The S3 writer's piece (s3-tuning.ts): a download's bytes reach the bucket, and a client, a piece at a time. */
const PIECE = 16 * MiB;

let s3: S3Server;
let admin: S3Client;
let fault: FaultServer;

beforeAll(async () => {
  s3 = await startS3({ memoryBytes: 1024 ** 3 });
  admin = s3Admin(s3);
  fault = await startFaultServer((_req, res) => res.writeHead(404).end());
}, 120_000);
afterAll(async () => {
  await fault?.stop();
  admin?.destroy();
  await s3?.stop();
});

async function keys(bucket: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const r = await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    out.push(...(r.Contents ?? []).map((o) => o.Key ?? ''));
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

const blobKey = (digest: string): string => {
  const hex = digest.slice('sha256:'.length);
  return `proxy/blobs/sha256/${hex.slice(0, 2)}/${hex}`;
};

/** The same bytes but the first, so the length matches and only the digest gives it away. */
const flipped = (data: Buffer): Buffer => {
  const copy = Buffer.from(data);
  copy[0] = (copy[0] ?? 0) ^ 0xff;
  return copy;
};

const upstreamGets = (digest: string): number => fault.requests.filter((r) => r.method === 'GET' && r.path.includes(digest)).length;

async function startOnS3(redirect: boolean): Promise<{ keel: KeelProcess; bucket: string }> {
  const storage = await keelS3Storage(s3, { redirect });
  const keel = await startKeel({ toml: storage.toml.replace('[s3]', `[proxy.upstreams.faulty]\nurl = "${fault.url}"\nallow_private = true\ntimeout = "10m"\n\n[s3]`) });
  return { keel, bucket: storage.bucket };
}

/** The proxy prefix holds nothing but the given blobs: no pieces, no trash, no multipart upload. */
async function onlyBlobs(bucket: string, digests: string[]): Promise<void> {
  expect((await keys(bucket, 'proxy/')).sort()).toEqual(digests.map(blobKey).sort());
  const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'proxy/' }));
  expect(uploads.Uploads ?? []).toEqual([]);
}

describe('proxy cache on S3, streaming (redirect = false)', () => {
  let keel: KeelProcess;
  let bucket: string;
  beforeAll(async () => {
    ({ keel, bucket } = await startOnS3(false));
  }, 60_000);
  afterAll(() => keel?.destroy());

  test('a cold miss reaches the client while it is stored; the object appears once verified; the next GET is a cache hit', async () => {
    const data = randomBytes(3 * PIECE + 123);
    const digest = sha256(data);
    const held = PIECE + 4 * MiB;
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    fault.handle((req, res) => {
      if (req.method === 'HEAD') return serveBytes(res, data, 'HEAD');
      res.writeHead(200, { 'Content-Length': String(data.length) });
      res.write(data.subarray(0, held));
      void released.then(() => res.end(data.subarray(held)));
    });

    const hash = createHash('sha256');
    let received = 0;
    let reached: () => void = () => undefined;
    const gotPiece = new Promise<void>((r) => (reached = r));
    const done = new Promise<{ status: number }>((resolve, reject) => {
      request(`${keel.url}/v2/proxy/faulty/stream/app/blobs/${digest}`, (res: IncomingMessage) => {
        res.on('data', (c: Buffer) => {
          hash.update(c);
          received += c.length;
          // A download's last landed byte is held back until it is verified (blob-download.ts).
          if (received >= PIECE - 1) reached();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    // The upstream has sent only part of the blob, and the client has a whole piece of it,
    // read back from the bucket, where the download is stored as it goes.
    // A download that failed first ends the response instead: reported, not waited for.
    await Promise.race([gotPiece, done.then(() => undefined)]);
    expect(received).toBeGreaterThanOrEqual(PIECE - 1);
    expect(received).toBeLessThan(data.length);
    const during = await keys(bucket, 'proxy/');
    expect(during).not.toContain(blobKey(digest));
    expect(during.some((k) => k.startsWith('proxy/ingest/'))).toBe(true);
    release();
    expect(await done).toEqual({ status: 200 });
    expect(`sha256:${hash.digest('hex')}`).toBe(digest);
    expect(received).toBe(data.length);
    await onlyBlobs(bucket, [digest]);
    expect(upstreamGets(digest)).toBe(1);

    // A hit: served from the bucket, the upstream is not asked again.
    expect(await streamPull(`${keel.url}/v2/proxy/faulty/stream/app/blobs/${digest}`)).toEqual({ status: 200, digest, bytes: data.length });
    expect(upstreamGets(digest)).toBe(1);
  }, 120_000);

  test.each([
    ['lies about the digest', (data: Buffer) => (req: IncomingMessage, res: ServerResponse) => serveBytes(res, flipped(data), req.method)],
    [
      'cuts the body',
      (data: Buffer) => (req: IncomingMessage, res: ServerResponse) => {
        if (req.method === 'HEAD') return serveBytes(res, data, 'HEAD');
        res.writeHead(200, { 'Content-Length': String(data.length) });
        res.write(data.subarray(0, PIECE + MiB), () => res.destroy());
      },
    ],
  ])('an upstream that %s leaves no object under the digest and nothing for GC to sweep; the next pull stores it', async (_name, handler) => {
    const data = randomBytes(2 * PIECE + 77);
    const digest = sha256(data);
    fault.handle(handler(data));
    const cached = (await keys(bucket, 'proxy/blobs/')).map((k) => `sha256:${k.split('/').at(-1) ?? ''}`);
    const url = `${keel.url}/v2/proxy/faulty/faulty/app/blobs/${digest}`;
    const pulled = await streamPull(url).catch((err: unknown) => err);
    // Either the connection is cut mid-body or the whole answer is an error: never the blob.
    if (!(pulled instanceof Error)) expect(pulled).not.toMatchObject({ status: 200, digest });
    expect(await keys(bucket, blobKey(digest))).toEqual([]);
    // The next GC finds nothing left of it (grace 0: everything older than now is fair game).
    const summary = await runGc(keel.config, { stores: 'proxy', dryRun: false, deleteUntagged: false, grace: 0 }, { clock: systemClock, logger: pino({ level: 'silent' }) });
    expect(summary.stores[0]).toMatchObject({ orphans: 0, blobs: 0 });
    await onlyBlobs(bucket, cached);

    fault.handle((req, res) => serveBytes(res, data, req.method));
    expect(await streamPull(url)).toEqual({ status: 200, digest, bytes: data.length });
    expect(await keys(bucket, blobKey(digest))).toEqual([blobKey(digest)]);
  }, 120_000);
});

describe('proxy cache on S3, redirect = true', () => {
  let keel: KeelProcess;
  beforeAll(async () => {
    ({ keel } = await startOnS3(true));
  }, 60_000);
  afterAll(() => keel?.destroy());

  test('a miss streams through Keel; a hit is a 307 to a presigned URL, only for repositories the upstream shows the blob in', async () => {
    const data = randomBytes(64 * 1024);
    const digest = sha256(data);
    // The upstream has the blob in team/a and team/c, not in team/b.
    fault.handle((req, res) => {
      if (req.url?.startsWith('/v2/team/b/')) return void res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}');
      serveBytes(res, data, req.method);
    });
    const get = (repo: string): Promise<Response> => fetch(`${keel.url}/v2/proxy/faulty/${repo}/blobs/${digest}`, { redirect: 'manual' });

    const miss = await get('team/a');
    expect(miss.status).toBe(200);
    expect(sha256(Buffer.from(await miss.arrayBuffer()))).toBe(digest);
    expect(upstreamGets(digest)).toBe(1);

    const hit = await get('team/a');
    expect(hit.status).toBe(307);
    expect(hit.headers.get('docker-content-digest')).toBe(digest);
    const location = hit.headers.get('location') as string;
    expect(location.startsWith(`${s3.endpoint}/`)).toBe(true);
    const followed = await fetch(location);
    expect(followed.status).toBe(200);
    expect(sha256(Buffer.from(await followed.arrayBuffer()))).toBe(digest);
    // Range goes to the presigned URL as well.
    const ranged = await fetch(location, { headers: { Range: 'bytes=10-19' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(10, 20))).toBe(true);
    expect(upstreamGets(digest)).toBe(1);

    // Stored, but the upstream does not show it in team/b: no URL, the upstream's answer.
    const denied = await get('team/b');
    expect(denied.status).toBe(404);
    expect(denied.headers.get('location')).toBeNull();
    expect(await errorCode(denied)).toBe('BLOB_UNKNOWN');
    const deniedHead = await fetch(`${keel.url}/v2/proxy/faulty/team/b/blobs/${digest}`, { method: 'HEAD' });
    expect(deniedHead.status).toBe(404);

    // team/c: confirmed by a HEAD upstream, then the same redirect; no second download.
    const other = await get('team/c');
    expect(other.status).toBe(307);
    expect(other.headers.get('location')).not.toBeNull();
    expect(upstreamGets(digest)).toBe(1);
    expect(fault.requests.filter((r) => r.method === 'HEAD' && r.path === `/v2/team/c/blobs/${digest}`)).toHaveLength(1);
  }, 60_000);
});
