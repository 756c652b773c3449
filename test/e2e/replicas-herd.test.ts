// The cold-miss herd across replicas: 20 clients ask the load balancer at once for one
// uncached 256 MiB blob of a real upstream (CNCF Distribution 2.8); nginx spreads them over the
// three replicas. The upstream's own access log must show exactly one GET of the blob, and
// every client must get all of its bytes with the right sha256.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { ensureTools } from '../support/e2e/tools.js';
import { clusterDatabase } from '../support/cluster-database.js';
import { generated, send } from '../support/generated-blob.js';
import { startCluster, type KeelCluster } from '../support/keel-cluster.js';
import { streamPull } from '../support/stream-pull.js';

const SIZE = 256 * 1024 ** 2;
const CLIENTS = 20;
const REPO = 'herd/app';
let upstream: Distribution;
let cluster: KeelCluster;
const blob = generated(SIZE);

/** Pushes the blob to the upstream in one PUT (POST, then PUT ?digest= with the body). */
async function seedUpstream(): Promise<void> {
  const started = await send(upstream.url, 'POST', `/v2/${REPO}/blobs/uploads/`, undefined, { 'Content-Length': '0' });
  if (started.status !== 202 || typeof started.headers.location !== 'string') throw new Error(`upstream POST answered ${started.status}`);
  const location = new URL(started.headers.location, upstream.url);
  location.searchParams.set('digest', blob.digest);
  const put = await send(upstream.url, 'PUT', `${location.pathname}${location.search}`, blob.stream(), {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(SIZE),
  });
  if (put.status !== 201) throw new Error(`upstream PUT answered ${put.status}`);
}

beforeAll(async () => {
  await ensureTools(['docker-registry']);
  upstream = await startDistribution();
  try {
    await seedUpstream();
    cluster = await startCluster({
      database: clusterDatabase(),
      s3MemoryBytes: 3 * 1024 ** 3,
      toml: `[proxy.upstreams.up]\nurl = "${upstream.url}"\nallow_private = true\ntimeout = "10m"\n`,
    });
  } catch (e) {
    await upstream.stop();
    throw e;
  }
}, 300_000);
afterAll(async () => {
  try {
    await cluster?.stop();
  } finally {
    await upstream?.stop();
  }
}, 120_000);

test(`${CLIENTS} clients missing one uncached 256 MiB blob, spread over 3 replicas: 1 upstream GET, every client gets the right bytes`, async () => {
  const path = `/v2/proxy/up/${REPO}/blobs/${blob.digest}`;
  expect(await countRequests(upstream, 'GET', `/blobs/${blob.digest}`)).toBe(0);

  const started = performance.now();
  const settled = await Promise.allSettled(Array.from({ length: CLIENTS }, () => streamPull(`${cluster.lb.url}${path}`)));
  const herdMs = performance.now() - started;
  const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [`client ${i}: ${String(s.reason)}`] : []));
  // Every client that has its last byte has it after the upstream's body was complete and
  // verified. Distribution logs a request once it has answered it, which may be just after
  // Keel read the last byte: wait for the first line.
  const gets = (): Promise<number> => countRequests(upstream, 'GET', `/blobs/${blob.digest}`);
  for (const deadline = Date.now() + 60_000; (await gets()) === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
  if (failed.length > 0) {
    throw new Error(`${failed.length} of ${CLIENTS} clients failed after ${Math.round(herdMs)} ms (upstream GETs so far: ${await gets()}):\n${failed.join('\n')}\nreplica warnings, errors and aborted requests:\n${(await cluster.problems()).join('\n')}`);
  }
  for (const s of settled) expect(s).toEqual({ status: 'fulfilled', value: { status: 200, digest: blob.digest, bytes: SIZE } });
  // nginx sent the clients to every replica (round-robin).
  const served = (await cluster.lb.accessLog()).filter((r) => r.method === 'GET' && r.uri === path);
  expect(served).toHaveLength(CLIENTS);
  expect(new Set(served.map((r) => r.upstream)).size).toBe(3);
  expect(await gets()).toBe(1);
  process.stdout.write(`replicas herd: ${CLIENTS} clients, ${SIZE / 1024 ** 2} MiB, ${Math.round(herdMs)} ms\n`);
}, 1_200_000);
