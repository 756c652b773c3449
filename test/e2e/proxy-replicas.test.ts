// Cross-replica single-flight: three Keel processes from dist/ sharing one SQLite index file
// and one proxy store directory (a single-host multi-process setup; replicas on PostgreSQL
// take the same code path), in front of a registry-shaped upstream that counts its blob GETs
// and sends a blob's bytes only when the test lets it, so "mid-download" is a fact the test
// has seen (bytes at every client), not a moment it hopes for.
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { PeerAuth, PEER_SIGNATURE_HEADER } from '../../src/proxy/peer-auth.js';
import { peerDownloadPath } from '../../src/proxy/peer-relay.js';
import type { Digest } from '../../src/primitives/types.js';
import { openDatabase, sqliteIndexes } from '../../src/storage/indexes.js';
import type { IndexSet } from '../../src/storage/index-set.js';
import { freePort } from '../support/e2e/ports.js';
import { startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { spawnKeel, type KeelChild } from '../support/keel-process.js';
import { ManualClock } from '../support/manual-clock.js';
import { sha256 } from '../support/oci-client.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
/** What the upstream sends of a blob before it waits for the test. */
const FIRST_PART = 16 * MiB;

interface Blob {
  bytes: Buffer;
  digest: Digest;
}

/** How the upstream answers the n-th GET of a blob (1-based). */
type Pace = (n: number, res: ServerResponse, blob: Blob) => void;

let dir: string;
let upstream: FaultServer;
let keels: KeelChild[] = [];
let blobs: Blob[] = [];
let pace: Pace = (_n, res, blob) => res.end(blob.bytes);
const upstreamGets = new EventEmitter();

function newBlob(): Blob {
  const bytes = randomBytes(SIZE);
  const blob = { bytes, digest: sha256(bytes) as Digest };
  blobs.push(blob);
  return blob;
}

function blobGets(blob: Blob): number {
  return upstream.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${blob.digest}`)).length;
}

/** A registry-shaped upstream: HEAD and GET of the test's blobs, paced by `pace`. */
function answer(req: IncomingMessage, res: ServerResponse): void {
  const m = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
  const blob = m ? blobs.find((b) => b.digest === m[1]) : undefined;
  if (!blob) {
    res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.bytes.length) });
  if (req.method !== 'GET') {
    res.end();
    return;
  }
  const n = blobGets(blob);
  upstreamGets.emit('get', n);
  pace(n, res, blob);
}

interface Pull {
  /** Resolves once the client has received some bytes of the body. */
  firstBytes: Promise<void>;
  done: Promise<{ status: number; digest: string; bytes: number }>;
}

/** A client GET of the blob through one replica, hashing as it streams. */
function pull(keel: KeelChild, blob: Blob): Pull {
  let gotBytes: () => void = () => undefined;
  const firstBytes = new Promise<void>((resolve) => (gotBytes = resolve));
  const done = new Promise<{ status: number; digest: string; bytes: number }>((resolve, reject) => {
    const req = request(`${keel.url}/v2/proxy/up/team/app/blobs/${blob.digest}`, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        gotBytes();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, bytes }));
      res.on('error', reject);
      res.on('close', () => (res.complete ? undefined : reject(new Error(`connection closed after ${bytes} bytes`))));
    });
    req.on('error', reject);
    req.end();
  });
  // A client that fails is asserted on where the test expects it; never an unhandled rejection.
  done.catch(() => undefined);
  return { firstBytes, done };
}

/** A peer-path GET with the given signature header (or none); the status, headers and how many body bytes came. */
function peerGet(keel: KeelChild, path: string, signature: string | undefined, stopAfter = Infinity): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${keel.url}${path}`, { headers: signature === undefined ? {} : { [PEER_SIGNATURE_HEADER]: signature } }, (res) => {
      const chunks: Buffer[] = [];
      let length = 0;
      const finish = (): void => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        if (length >= stopAfter) {
          req.destroy();
          finish();
        }
      });
      res.on('end', finish);
      res.on('error', () => undefined);
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
}

/** The sum of a counter on /metrics over the replicas given. */
async function counter(replicas: KeelChild[], name: string): Promise<number> {
  let sum = 0;
  for (const keel of replicas) {
    const text = await (await fetch(`${keel.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    sum += line === undefined ? 0 : Number(line.split(' ').at(-1));
  }
  return sum;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-replicas-'));
  upstream = await startFaultServer(answer);
  // One after the other: the first one creates the index (migrations) the others open.
  for (const name of ['a', 'b', 'c']) {
    const port = await freePort();
    keels.push(
      await spawnKeel(
        `database = "${join(dir, 'index.db')}"
proxy_storage = "${join(dir, 'proxy')}"

[cluster]
replica = "${name}"
advertise_url = "http://127.0.0.1:${port}"

[proxy.upstreams.up]
url = "${upstream.url}"
allow_private = true
timeout = "30s"
`,
        { listen: `127.0.0.1:${port}` },
      ),
    );
  }
}, 120_000);

afterAll(async () => {
  // KEEL_REPLICA_LOGS=<dir> keeps each replica's log lines there, for looking into a failure.
  if (process.env.KEEL_REPLICA_LOGS) for (const [i, keel] of keels.entries()) await writeFile(join(process.env.KEEL_REPLICA_LOGS, `keel-${i}.log`), keel.output());
  await Promise.allSettled(keels.map((keel) => keel.stop()));
  await upstream?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('three replicas missing one blob', () => {
  let index: IndexSet;
  beforeAll(() => {
    // The test's own connection to the replicas' index: it holds the key they share.
    index = sqliteIndexes(openDatabase(join(dir, 'index.db')), { clock: new ManualClock() });
  });
  afterAll(() => index.close());

  test('concurrent clients on all three make exactly one upstream GET and all get the right bytes; the peer path refuses whoever cannot sign', async () => {
    const [a, b, c] = keels as [KeelChild, KeelChild, KeelChild];
    const blob = newBlob();
    let letGo: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (letGo = resolve));
    pace = (_n, res, { bytes }) => {
      res.write(bytes.subarray(0, FIRST_PART));
      void released.then(() => res.end(bytes.subarray(FIRST_PART)));
    };

    const started = once(upstreamGets, 'get');
    const onA = [pull(a, blob), pull(a, blob)];
    await started; // a holds the lease now
    const others = [pull(b, blob), pull(b, blob), pull(c, blob), pull(c, blob)];
    const all = [...onA, ...others];
    // Every client has bytes while the upstream still holds back 48 MiB: b and c are following a's download.
    await Promise.all(all.map((p) => p.firstBytes));
    expect(blobGets(blob)).toBe(1);

    // The peer path, while a's download is in flight: nothing without a current signature of the shared key.
    const path = peerDownloadPath('up', blob.digest, 0);
    const stranger = sqliteIndexes(openDatabase(join(dir, 'stranger.db')), { clock: new ManualClock() });
    try {
      const refusals = [
        await peerGet(a, path, undefined),
        await peerGet(a, path, await new PeerAuth(stranger.secrets, { now: () => Date.now() }).sign('GET', path)),
        await peerGet(a, path, await new PeerAuth(index.secrets, { now: () => Date.now() - 60_000 }).sign('GET', path)),
        // Signed for another offset: the query is signed too.
        await peerGet(a, path, await new PeerAuth(index.secrets, { now: () => Date.now() }).sign('GET', peerDownloadPath('up', blob.digest, 1))),
      ];
      for (const refused of refusals) {
        expect(refused.status).toBe(401);
        expect(refused.headers['keel-blob-size']).toBeUndefined();
        expect((JSON.parse(refused.body.toString('utf8')) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe('UNAUTHORIZED');
      }
    } finally {
      await stranger.close();
    }
    // The same request signed with the replicas' key is served (so the refusals were the signature's doing).
    const signed = await peerGet(a, path, await new PeerAuth(index.secrets, { now: () => Date.now() }).sign('GET', path), 1);
    expect(signed.status).toBe(200);
    expect(signed.headers['keel-blob-size']).toBe(String(SIZE));
    expect(signed.body.subarray(0, 1)).toEqual(blob.bytes.subarray(0, 1));
    const unknown = peerDownloadPath('up', sha256('not in flight') as Digest, 0);
    expect((await peerGet(a, unknown, await new PeerAuth(index.secrets, { now: () => Date.now() }).sign('GET', unknown))).status).toBe(404);

    letGo();
    for (const result of await Promise.all(all.map((p) => p.done))) expect(result).toEqual({ status: 200, digest: blob.digest, bytes: SIZE });
    expect(blobGets(blob)).toBe(1);
    expect(await counter([b, c], 'keel_proxy_peer_relays_total')).toBeGreaterThanOrEqual(2);

    // Stored once for all: a later pull on any replica is a cache hit.
    for (const keel of keels) expect(await pull(keel, blob).done).toEqual({ status: 200, digest: blob.digest, bytes: SIZE });
    expect(blobGets(blob)).toBe(1);
  }, 90_000);

  test('kill -9 of the replica holding the download mid-way: the clients on the others still complete with the right bytes', async () => {
    const [a, b, c] = keels as [KeelChild, KeelChild, KeelChild];
    const blob = newBlob();
    // The first GET (a's) sends a quarter and then nothing; the one that takes over gets everything.
    pace = (n, res, { bytes }) => (n === 1 ? res.write(bytes.subarray(0, FIRST_PART)) : res.end(bytes));

    const started = once(upstreamGets, 'get');
    const onA = pull(a, blob);
    await started;
    const others = [pull(b, blob), pull(b, blob), pull(c, blob)];
    await Promise.all([onA, ...others].map((p) => p.firstBytes));
    const takeoversBefore = await counter([b, c], 'keel_proxy_peer_takeovers_total');

    process.kill(a.pid, 'SIGKILL');
    await a.exited;
    await expect(onA.done).rejects.toThrow();
    for (const result of await Promise.all(others.map((p) => p.done))) expect(result).toEqual({ status: 200, digest: blob.digest, bytes: SIZE });
    // One more upstream GET, by the one replica that took over; the other followed it.
    expect(blobGets(blob)).toBe(2);
    expect((await counter([b, c], 'keel_proxy_peer_takeovers_total')) - takeoversBefore).toBe(1);
    expect(await pull(c, blob).done).toEqual({ status: 200, digest: blob.digest, bytes: SIZE });
    expect(blobGets(blob)).toBe(2);
  }, 90_000);
});
