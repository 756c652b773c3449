// Blob answers when the stored file disagrees with the index, and error answers in general:
// an error carries only its own headers (never the blob's Content-Length, ETag or immutable
// Cache-Control), and a response that fails after it started is aborted at once.
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { appendFile, truncate, unlink } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { blobPath } from '../../src/storage/fs/paths.js';
import type { Digest } from '../../src/primitives/types.js';
import { startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, randomBytes, sha256 } from '../support/oci-client.js';

interface RawReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body ended as HTTP framing says (false: the connection was cut first). */
  complete: boolean;
}

/** One request with node:http, so headers and framing are seen as sent; settles when the body ends or the connection is cut. */
function raw(url: string, options: { method?: string; headers?: Record<string, string>; agent?: Agent; onData?: (bytes: number) => void } = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let done = false;
      const settle = (complete: boolean): void => {
        if (done) return;
        done = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete });
      };
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        received += c.length;
        options.onData?.(received);
      });
      res.on('end', () => settle(true));
      res.on('aborted', () => settle(false));
      res.on('error', () => settle(false));
      res.on('close', () => settle(res.complete));
    });
    req.on('error', reject);
    req.end();
  });
}

const BLOB_HEADERS = ['etag', 'cache-control', 'docker-content-digest', 'accept-ranges', 'content-range'];

/** A clean OCI error: its own JSON body, a Content-Length that is that body's, none of the blob's headers. */
function expectCleanError(reply: RawReply, status: number, code: string): void {
  expect(reply.status).toBe(status);
  expect(reply.complete).toBe(true);
  expect(reply.headers['content-type']).toMatch(/^application\/json/);
  expect(reply.headers['content-length']).toBe(String(reply.body.length));
  for (const name of BLOB_HEADERS) expect(reply.headers[name]).toBeUndefined();
  expect((JSON.parse(reply.body.toString('utf8')) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe(code);
}

describe('a local blob whose file disagrees with the index', () => {
  let keel: KeelProcess;
  let client: Client;
  const lines: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    keel = await startKeel({ logger: pino({ level: 'error' }, sink) });
    client = new Client(keel.url);
  });
  afterAll(() => keel.destroy());

  const fileOf = (digest: string): string => blobPath(keel.config.registry_storage, digest as Digest);
  const failures = async (): Promise<number> => {
    const text = await (await fetch(`${keel.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('keel_blob_integrity_failures_total{store="registry",replica='));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  };
  const loggedFor = (digest: string): Array<Record<string, unknown>> =>
    lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.digest === digest && l.level === 50 && typeof l.path === 'string');

  test('file gone: GET and HEAD are a clean 404 BLOB_UNKNOWN, logged with digest and path, counted', async () => {
    const { digest } = await client.pushBlob('integrity/gone', randomBytes(100_000));
    // A HEAD first, so the size lookup is cached when the file goes.
    expect((await raw(`${keel.url}/v2/integrity/gone/blobs/${digest}`, { method: 'HEAD' })).status).toBe(200);
    await unlink(fileOf(digest));
    const before = await failures();
    expectCleanError(await raw(`${keel.url}/v2/integrity/gone/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    const head = await raw(`${keel.url}/v2/integrity/gone/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    for (const name of BLOB_HEADERS) expect(head.headers[name]).toBeUndefined();
    expect(await failures()).toBe(before + 2);
    expect(loggedFor(digest).map((l) => l.path)).toEqual([fileOf(digest), fileOf(digest)]);
  });

  test('file truncated: GET, a Range GET and HEAD are a clean 404, never the indexed length then a hang', async () => {
    const { digest } = await client.pushBlob('integrity/short', randomBytes(200_000));
    await truncate(fileOf(digest), 50_000);
    const before = await failures();
    expectCleanError(await raw(`${keel.url}/v2/integrity/short/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    expectCleanError(await raw(`${keel.url}/v2/integrity/short/blobs/${digest}`, { headers: { Range: 'bytes=100000-100099' } }), 404, 'BLOB_UNKNOWN');
    expect((await raw(`${keel.url}/v2/integrity/short/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
    expect(await failures()).toBe(before + 3);
    expect(loggedFor(digest)[0]).toMatchObject({ expected: 200_000, actual: 50_000 });
  });

  test('file longer than indexed: a clean 404, and the next response on the same connection is intact', async () => {
    const good = randomBytes(30_000);
    const { digest: goodDigest } = await client.pushBlob('integrity/long', good);
    const { digest } = await client.pushBlob('integrity/long', randomBytes(40_000));
    await appendFile(fileOf(digest), randomBytes(5_000));
    // One keep-alive connection: bytes beyond the announced length would be read as the next response.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expectCleanError(await raw(`${keel.url}/v2/integrity/long/blobs/${digest}`, { agent }), 404, 'BLOB_UNKNOWN');
      const next = await raw(`${keel.url}/v2/integrity/long/blobs/${goodDigest}`, { agent });
      expect(next.status).toBe(200);
      expect(sha256(next.body)).toBe(goodDigest);
    } finally {
      agent.destroy();
    }
  });

  test('an unsatisfiable range still answers 416 with its Content-Range and nothing of the blob', async () => {
    const { digest } = await client.pushBlob('integrity/range', randomBytes(1000));
    const reply = await raw(`${keel.url}/v2/integrity/range/blobs/${digest}`, { headers: { Range: 'bytes=5000-6000' } });
    expect(reply.status).toBe(416);
    expect(reply.headers['content-range']).toBe('bytes */1000');
    expect(reply.headers['content-length']).toBe(String(reply.body.length));
    expect(reply.headers.etag).toBeUndefined();
    expect(reply.headers['cache-control']).toBeUndefined();
  });
});

describe('a proxy miss whose upstream fails after its headers', () => {
  let fault: FaultServer;
  let keel: KeelProcess;

  beforeAll(async () => {
    fault = await startFaultServer((_req, res) => res.writeHead(404).end());
    // The upstream timeout is configuration: it turns a silent upstream into a failed download.
    keel = await startKeel({ toml: `[proxy.upstreams.faulty]\nurl = "${fault.url}"\nallow_private = true\ntimeout = "1s"\n` });
  });
  afterAll(async () => {
    await keel.destroy();
    await fault.stop();
  });

  test('upstream silent after its headers: the client gets a clean 503 once the download fails, not the blob headers and a hang', async () => {
    const data = randomBytes(1 << 20);
    const digest = sha256(data);
    fault.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) });
      res.flushHeaders();
    });
    expectCleanError(await raw(`${keel.url}/v2/proxy/faulty/silent/app/blobs/${digest}`), 503, 'UNAVAILABLE');
  });

  test('upstream cut after some bytes were forwarded: the client connection is aborted with an incomplete body', async () => {
    const data = randomBytes(1 << 20);
    const digest = sha256(data);
    let cut: () => void = () => undefined;
    fault.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) });
      res.write(data.subarray(0, 100_000));
      cut = () => res.destroy();
    });
    // The upstream is cut once the client has seen bytes, so the response has surely started.
    const reply = await raw(`${keel.url}/v2/proxy/faulty/cut/app/blobs/${digest}`, { onData: () => cut() });
    expect(reply.status).toBe(200);
    expect(reply.complete).toBe(false);
    expect(reply.body.length).toBeLessThan(data.length);
  });
});
