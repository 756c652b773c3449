// A Range request for a proxied blob whose download is still running, against a real
// listening Keel and a hand-written loopback upstream that sends the first part of a blob
// and then waits for the test to release the rest. A read to the end of the blob is
// protected by its held-back last byte; a range that stops short of the end is not, so it
// must wait until the blob is verified and stored.
import { request, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { gate, startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { errorCode, randomBytes, sha256 } from '../support/oci-client.js';

const KiB = 1024;

/** A full GET read as it streams: `reached(n)` resolves once n bytes have arrived. */
interface FullPull {
  received: () => number;
  reached(n: number): Promise<void>;
  /** The whole body and status; rejects if the transfer is cut. */
  done: Promise<{ status: number; body: Buffer }>;
}

function pullFull(url: string): FullPull {
  const chunks: Buffer[] = [];
  let received = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const done = new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    request(url, (res: IncomingMessage) => {
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        for (const w of waiters.filter((w) => received >= w.n)) w.resolve();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) reject(new Error(`transfer cut after ${received} bytes`));
      });
    })
      .on('error', reject)
      .end();
  });
  done.catch(() => undefined);
  return {
    received: () => received,
    reached: (n) =>
      new Promise<void>((resolve) => {
        if (received >= n) resolve();
        else waiters.push({ n, resolve });
      }),
    done,
  };
}

/** How many blob requests joined a download already in flight, from Keel's metrics. */
async function blobJoins(keel: KeelProcess): Promise<number> {
  const text = await (await fetch(`${keel.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('keel_proxy_singleflight_joins_total{kind="blob",replica='));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

/** Waits until the count of joined blob requests reaches `joins` (polled: Keel has no event for it). */
async function joinsReached(keel: KeelProcess, joins: number): Promise<void> {
  while ((await blobJoins(keel)) < joins) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('a Range request while the proxy download is running', () => {
  let fault: FaultServer;
  let keel: KeelProcess;

  beforeAll(async () => {
    fault = await startFaultServer((_req, res) => res.writeHead(404).end());
    // A generous timeout: the upstream is silent while a test holds its gate.
    keel = await startKeel({ toml: `[proxy.upstreams.gated]\nurl = "${fault.url}"\nallow_private = true\ntimeout = "60s"\n` });
  });
  afterAll(async () => {
    await keel.destroy();
    await fault.stop();
  });

  const blobGets = (digest: string): number => fault.requests.filter((r) => r.method === 'GET' && r.path.includes(digest)).length;

  test('of a blob whose bytes do not match its digest: no unverified bytes, an OCI error once verification fails', async () => {
    const right = randomBytes(128 * KiB);
    const digest = sha256(right);
    const wrong = randomBytes(right.length);
    const upstream = gate(fault, wrong, 64 * KiB);
    const url = `${keel.url}/v2/proxy/gated/lying/app/blobs/${digest}`;
    const joins = await blobJoins(keel);

    // A full GET starts the download and streams what has arrived, all but the last byte:
    // holding ranges back does not slow full reads.
    const full = pullFull(url);
    await full.reached(64 * KiB - 1);

    // The first 100 bytes have been downloaded, but nothing says yet that they are right.
    const ranged = fetch(url, { headers: { Range: 'bytes=0-99' } }).then(async (res) => ({
      released: upstream.released, // when the answer began
      status: res.status,
      code: res.status === 206 ? undefined : await errorCode(res),
    }));
    await joinsReached(keel, joins + 1);
    upstream.release();

    await expect(full.done).rejects.toThrow();
    expect(await ranged).toEqual({ released: true, status: 503, code: 'UNAVAILABLE' });
    expect(blobGets(digest)).toBe(1);
  });

  test('of a correct blob: the right bytes, once the blob is verified and stored', async () => {
    const data = randomBytes(128 * KiB);
    const digest = sha256(data);
    const upstream = gate(fault, data, 64 * KiB);
    const url = `${keel.url}/v2/proxy/gated/right/app/blobs/${digest}`;
    const before = blobGets(digest);
    const joins = await blobJoins(keel);

    // This time the two requests go at once: whichever comes second joins the download.
    const ranged = fetch(url, { headers: { Range: 'bytes=10-4105' } }).then(async (res) => ({
      released: upstream.released, // when the answer began
      status: res.status,
      range: res.headers.get('content-range'),
      body: Buffer.from(await res.arrayBuffer()),
    }));
    const full = pullFull(url);
    await full.reached(64 * KiB - 1);
    await joinsReached(keel, joins + 1);
    upstream.release();

    expect((await full.done).body.equals(data)).toBe(true);
    const answer = await ranged;
    expect({ released: answer.released, status: answer.status, range: answer.range }).toEqual({ released: true, status: 206, range: `bytes 10-4105/${data.length}` });
    expect(answer.body.equals(data.subarray(10, 4106))).toBe(true);
    expect(blobGets(digest) - before).toBe(1);
  });

  test('a Range client that leaves while it waits does not disturb the download', async () => {
    const data = randomBytes(128 * KiB);
    const digest = sha256(data);
    const upstream = gate(fault, data, 64 * KiB);
    const url = `${keel.url}/v2/proxy/gated/leaving/app/blobs/${digest}`;
    const before = blobGets(digest);
    const joins = await blobJoins(keel);

    const full = pullFull(url);
    await full.reached(64 * KiB - 1);
    const leaving = new AbortController();
    const ranged = fetch(url, { headers: { Range: 'bytes=0-99' }, signal: leaving.signal });
    ranged.catch(() => undefined);
    await joinsReached(keel, joins + 1);
    leaving.abort();
    await expect(ranged).rejects.toThrow();
    upstream.release();

    expect((await full.done).body.equals(data)).toBe(true);
    const again = await fetch(url, { headers: { Range: 'bytes=0-99' } });
    expect(again.status).toBe(206);
    expect(Buffer.from(await again.arrayBuffer()).equals(data.subarray(0, 100))).toBe(true);
    expect(blobGets(digest) - before).toBe(1);
  });
});
