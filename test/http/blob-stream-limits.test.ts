/**
 * limits.blob_streams, blob_stream_queue and blob_stream_wait against a real listening server:
 * within the bound every GET is served whole; beyond it GETs wait in the queue, and a full
 * queue or a wait that ran out is a 503 with Retry-After and an OCI error body, never a 500.
 * Streams are held deterministically by clients that do not read: a 64 MiB body cannot fit
 * in the sockets' buffers, so such a stream stays open until the client reads it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Client, sha256 } from '../support/oci-client.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';

const MiB = 1024 * 1024;
const BLOB = randomBytes(64 * MiB);
const DIGEST = sha256(BLOB);
const REPO = 'limits/blob';

/** A GET whose response is not read: it holds its stream from the moment its headers arrive. */
interface HeldGet {
  req: ClientRequest;
  res: IncomingMessage;
  /** Reads the rest; resolves with the digest and byte count of the whole body. */
  readAll(): Promise<{ digest: string; bytes: number }>;
}

function heldGet(url: string): Promise<HeldGet> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      res.pause();
      resolve({
        req,
        res,
        readAll: () =>
          new Promise((done, failed) => {
            const hash = createHash('sha256');
            let bytes = 0;
            res.on('data', (chunk: Buffer) => {
              hash.update(chunk);
              bytes += chunk.length;
            });
            res.once('end', () => done({ digest: `sha256:${hash.digest('hex')}`, bytes }));
            res.once('error', failed);
            res.resume();
          }),
      });
    });
    req.once('error', reject);
    req.end();
  });
}

/** One value of /metrics, by name and labels other than `replica` (0 when the series has no sample yet). */
async function metric(keel: KeelProcess, series: string): Promise<number> {
  const text = await (await fetch(`${keel.url}/metrics`)).text();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? '')
      .split(',')
      .filter((l) => l !== '' && !l.startsWith('replica='))
      .join(',');
    if ((labels === '' ? m[1] : `${m[1]}{${labels}}`) === series) return Number(m[3]);
  }
  return 0;
}

/** Polls /metrics until `series` has `value`: the server's own count says the request got there. */
async function metricReaches(keel: KeelProcess, series: string, value: number): Promise<void> {
  while ((await metric(keel, series)) !== value) await new Promise((r) => setTimeout(r, 20));
}

async function expect503(res: Response, reason: string): Promise<void> {
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe('1');
  expect(res.headers.get('docker-content-digest')).toBeNull();
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { errors: Array<{ code: string; message: string; detail: { reason: string } }> };
  expect(body.errors).toHaveLength(1);
  expect(body.errors[0]).toMatchObject({ code: 'UNAVAILABLE', detail: { reason } });
}

async function served(url: string): Promise<{ status: number; digest: string; bytes: number }> {
  const res = await fetch(url);
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, digest: sha256(bytes), bytes: bytes.length };
}

describe('blob streams beyond limits.blob_streams queue, then get 503', () => {
  let keel: KeelProcess;
  let blobUrl: string;
  beforeAll(async () => {
    keel = await startKeel({ toml: '[limits]\nblob_streams = 2\nblob_stream_queue = 1\nblob_stream_wait = "1h"\n' });
    await new Client(keel.url).pushBlob(REPO, BLOB);
    blobUrl = `${keel.url}/v2/${REPO}/blobs/${DIGEST}`;
  }, 60_000);
  afterAll(() => keel.destroy());

  test('two streams are sent, the third GET waits, the fourth gets 503 at once; the waiting one is served when a stream ends', async () => {
    const first = await heldGet(blobUrl);
    const second = await heldGet(blobUrl);
    expect([first.res.statusCode, second.res.statusCode]).toEqual([200, 200]);
    expect(await metric(keel, 'keel_blob_streams_active')).toBe(2);

    const waiting = served(blobUrl);
    await metricReaches(keel, 'keel_blob_streams_waiting', 1);
    await expect503(await fetch(blobUrl), 'queue_full');
    // A HEAD, a manifest or a push needs no stream: only blob bodies are limited.
    expect((await fetch(blobUrl, { method: 'HEAD' })).status).toBe(200);
    expect(await metric(keel, 'keel_blob_stream_rejections_total{reason="queue_full"}')).toBe(1);

    // The first client reads its blob: its stream ends and the waiting GET gets it.
    expect(await first.readAll()).toEqual({ digest: DIGEST, bytes: BLOB.length });
    expect(await waiting).toEqual({ status: 200, digest: DIGEST, bytes: BLOB.length });
    expect(await second.readAll()).toEqual({ digest: DIGEST, bytes: BLOB.length });
    await metricReaches(keel, 'keel_blob_streams_active', 0);
    expect(await metric(keel, 'keel_blob_streams_waiting')).toBe(0);
  }, 120_000);

  test('a client that leaves the queue gives its place up', async () => {
    const first = await heldGet(blobUrl);
    const second = await heldGet(blobUrl);
    const leaving = request(blobUrl);
    leaving.once('error', () => undefined);
    leaving.end();
    await metricReaches(keel, 'keel_blob_streams_waiting', 1);
    leaving.destroy();
    await metricReaches(keel, 'keel_blob_streams_waiting', 0);
    // Its place is free: the next GET waits instead of getting 503, and is served.
    const next = served(blobUrl);
    await metricReaches(keel, 'keel_blob_streams_waiting', 1);
    await first.readAll();
    expect(await next).toEqual({ status: 200, digest: DIGEST, bytes: BLOB.length });
    await second.readAll();
  }, 120_000);

  test('a range GET is a stream like any other', async () => {
    const first = await heldGet(blobUrl);
    const second = await heldGet(blobUrl);
    const waiting = fetch(blobUrl, { headers: { Range: 'bytes=0-99' } });
    await metricReaches(keel, 'keel_blob_streams_waiting', 1);
    await expect503(await fetch(blobUrl, { headers: { Range: 'bytes=0-99' } }), 'queue_full');
    await first.readAll();
    const range = await waiting;
    expect(range.status).toBe(206);
    expect(Buffer.from(await range.arrayBuffer()).equals(BLOB.subarray(0, 100))).toBe(true);
    await second.readAll();
  }, 120_000);
});

describe('within limits.blob_streams and its queue, every GET is served', () => {
  let keel: KeelProcess;
  beforeAll(async () => {
    keel = await startKeel({ toml: '[limits]\nblob_streams = 2\nblob_stream_queue = 8\nblob_stream_wait = "1h"\n' });
    await new Client(keel.url).pushBlob(REPO, BLOB);
  }, 60_000);
  afterAll(() => keel.destroy());

  test('ten GETs at once on two streams: all get the whole blob, none is refused', async () => {
    const url = `${keel.url}/v2/${REPO}/blobs/${DIGEST}`;
    const results = await Promise.all(Array.from({ length: 10 }, () => served(url)));
    for (const r of results) expect(r).toEqual({ status: 200, digest: DIGEST, bytes: BLOB.length });
    expect(await metric(keel, 'keel_blob_stream_rejections_total{reason="queue_full"}')).toBe(0);
    expect(await metric(keel, 'keel_blob_stream_rejections_total{reason="wait_timeout"}')).toBe(0);
  }, 120_000);
});

describe('a GET that waited limits.blob_stream_wait for a stream', () => {
  let keel: KeelProcess;
  beforeAll(async () => {
    keel = await startKeel({ toml: '[limits]\nblob_streams = 1\nblob_stream_queue = 4\nblob_stream_wait = "50ms"\n' });
    await new Client(keel.url).pushBlob(REPO, BLOB);
  }, 60_000);
  afterAll(() => keel.destroy());

  test('gets 503 with Retry-After and an OCI error once the wait ran out', async () => {
    const url = `${keel.url}/v2/${REPO}/blobs/${DIGEST}`;
    const held = await heldGet(url);
    await expect503(await fetch(url), 'wait_timeout');
    expect(await metric(keel, 'keel_blob_stream_rejections_total{reason="wait_timeout"}')).toBe(1);
    expect(await held.readAll()).toEqual({ digest: DIGEST, bytes: BLOB.length });
  }, 120_000);
});

describe('a client that stops reading', () => {
  let keel: KeelProcess;
  beforeAll(async () => {
    keel = await startKeel({ toml: '[limits]\nblob_streams = 1\nblob_stream_queue = 4\nblob_stream_wait = "1h"\n[http]\nidle_timeout = "1s"\n' });
    await new Client(keel.url).pushBlob(REPO, BLOB);
  }, 60_000);
  afterAll(() => keel.destroy());

  test('is cut after http.idle_timeout, and its stream is free again', async () => {
    const url = `${keel.url}/v2/${REPO}/blobs/${DIGEST}`;
    // Nothing is read from this response: the server's writes stop, and so does all traffic.
    const stalled = await heldGet(url);
    expect(await metric(keel, 'keel_blob_streams_active')).toBe(1);
    // (A GET queued meanwhile would be cut first: a waiting connection is idle too.)
    await metricReaches(keel, 'keel_blob_streams_active', 0);
    expect(await served(url)).toEqual({ status: 200, digest: DIGEST, bytes: BLOB.length });
    stalled.req.destroy();
  }, 120_000);
});
