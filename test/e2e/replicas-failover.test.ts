// The owner of a cross-replica proxy download dies (SIGKILL) mid-download: the waiters on the
// other replicas still complete with the right bytes, and the upstream sees one fetch more (the
// takeover), not one per waiter.
//
// "Mid-download" is made deterministic by the upstream, not by timing: it is a registry-shaped
// server in this process that sends the first HELD_AT bytes of the blob and then holds the rest
// until the test lets it go, after the kill. The owner is made deterministic by order: the first
// client asks replica r0 alone and the test waits for the upstream to see that GET (and the
// client its first bytes) before any waiter asks r1 or r2; then the test waits until every
// waiter has bytes of its own, so each is streaming when r0 dies.
import { createHash, randomBytes } from 'node:crypto';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { clusterDatabase } from '../support/cluster-database.js';
import { startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { startCluster, type KeelCluster } from '../support/keel-cluster.js';

const MiB = 1024 ** 2;
const SIZE = 96 * MiB;
/** Three whole 16 MiB S3 pieces: what a waiter may read from the bucket exists by then. */
const HELD_AT = 48 * MiB;
const WAITERS_PER_REPLICA = 3;
const data = randomBytes(SIZE);
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;

let upstream: FaultServer;
let cluster: KeelCluster;
/** How many bytes of the blob the upstream may send in all (per response, from its start offset). */
let allowed = HELD_AT;
const wakers = new Set<() => void>();

function allow(bytes: number): void {
  allowed = bytes;
  for (const wake of [...wakers]) wake();
}

/** Serves the blob (a Range of it when asked), never past `allowed`; waits for allow() to go on. */
function serveGated(req: IncomingMessage, res: ServerResponse): void {
  if (!req.url?.includes(digest)) {
    res.writeHead(404).end();
    return;
  }
  const range = /^bytes=(\d+)-/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(SIZE - start), 'Docker-Content-Digest': digest };
  if (range) res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${SIZE - 1}/${SIZE}` });
  else res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  let sent = start;
  let closed = false;
  res.once('close', () => (closed = true));
  const pump = (): void => {
    while (!closed && sent < Math.min(SIZE, allowed)) {
      const piece = data.subarray(sent, Math.min(sent + MiB, SIZE, allowed));
      sent += piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    if (closed) return;
    if (sent >= SIZE) res.end();
    else wakers.add(function wake() {
      wakers.delete(wake);
      pump();
    });
  };
  pump();
}

interface Pull {
  received(): number;
  /** The status, byte count and sha256 of the whole body; rejects when the body breaks off. */
  done: Promise<{ status: number; bytes: number; digest: string; body?: string }>;
}

function startPull(url: string): Pull {
  let received = 0;
  const done = new Promise<{ status: number; bytes: number; digest: string; body?: string }>((resolve, reject) => {
    request(url, (res) => {
      const hash = createHash('sha256');
      let text = '';
      res.on('data', (c: Buffer) => {
        hash.update(c);
        if (res.statusCode !== 200 && text.length < 500) text += c.toString('utf8');
        received += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: received, digest: `sha256:${hash.digest('hex')}`, ...(res.statusCode === 200 ? {} : { body: text.slice(0, 500) }) }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`${url}: the body broke off after ${received} bytes`)));
    })
      .on('error', reject)
      .end();
  });
  return { received: () => received, done };
}

const upstreamGets = (): number => upstream.requests.filter((r) => r.method === 'GET' && r.path.includes(digest)).length;

/** Polls `check`; fails with what the upstream saw and what the replicas complained about. */
async function until(what: string, check: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      const seen = upstream.requests.map((r) => `${r.method} ${r.path}`).join('\n');
      throw new Error(`timed out waiting for ${what}; the upstream saw:\n${seen}\nreplica warnings, errors and aborted requests:\n${(await cluster.problems()).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  upstream = await startFaultServer(serveGated);
  try {
    cluster = await startCluster({
      database: clusterDatabase(),
      s3MemoryBytes: 2 * 1024 ** 3,
      toml: `[proxy.upstreams.paced]\nurl = "${upstream.url}"\nallow_private = true\ntimeout = "10m"\n`,
    });
  } catch (e) {
    await upstream.stop();
    throw e;
  }
}, 300_000);
afterAll(async () => {
  allow(SIZE);
  try {
    await cluster?.stop();
  } finally {
    await upstream?.stop();
  }
}, 120_000);

test('kill -9 of the replica owning a download mid-blob: the waiters on the other replicas complete with the right bytes', async () => {
  const path = `/v2/proxy/paced/ha/app/blobs/${digest}`;
  const [r0, r1, r2] = cluster.replicas;
  if (!r0 || !r1 || !r2) throw new Error('three replicas expected');

  const owner = startPull(`${r0.url}${path}`);
  // Its failure is expected: keep it from being an unhandled rejection before it is asserted.
  const ownerOutcome = owner.done.then((v) => `complete: ${JSON.stringify(v)}`, (e: unknown) => (e instanceof Error ? e.message : String(e)));
  let ownerEnded = false;
  void ownerOutcome.then(() => (ownerEnded = true));
  await until('the upstream GET of the first client', () => upstreamGets() >= 1 || ownerEnded);
  if (ownerEnded) throw new Error(`the first client's pull ended before the upstream sent its held part: ${await ownerOutcome}\n${(await cluster.problems()).join('\n')}`);
  expect(upstreamGets()).toBe(1);
  await until('bytes on the first client', () => owner.received() > 0);

  const waiters = [r1, r2].flatMap((r) => Array.from({ length: WAITERS_PER_REPLICA }, () => ({ replica: r.name, pull: startPull(`${r.url}${path}`) })));
  const outcomes = waiters.map((w) => w.pull.done.then((v) => v, (e: unknown) => e));
  // Every waiter streams what the owner has: bytes arrive before the upstream sends the rest.
  await until('bytes on every waiter', () => waiters.every((w) => w.pull.received() > 0));
  for (const w of waiters) expect(w.pull.received()).toBeLessThanOrEqual(HELD_AT);
  expect(upstreamGets()).toBe(1);

  await cluster.kill(r0.index);
  allow(SIZE);

  for (const [i, outcome] of (await Promise.all(outcomes)).entries()) {
    expect([waiters[i]?.replica, outcome]).toEqual([waiters[i]?.replica, { status: 200, bytes: SIZE, digest }]);
  }
  // The client on the dead replica got a broken body, not a complete one.
  expect(await ownerOutcome).not.toMatch(/^complete/);
  // One takeover fetch, not one per waiter or per replica.
  expect(upstreamGets()).toBe(2);
}, 600_000);
