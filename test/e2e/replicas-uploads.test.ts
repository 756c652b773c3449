// Upload sessions across three Keel replicas behind nginx (round-robin, no stickiness), with
// one shared index and one bucket on a real Ceph RGW: a chunked push whose PATCHes land on
// several replicas, and a replica killed (SIGKILL) and restarted in the middle of an upload
// while the client goes on through the load balancer and finishes.
//
// Which replica served which request comes from the replicas' own request log lines.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { patchInChunks, send } from '../support/generated-blob.js';
import { requestsByReplica, startCluster, type KeelCluster } from '../support/keel-cluster.js';
import { streamPull } from '../support/stream-pull.js';
import { clusterDatabase } from '../support/cluster-database.js';

const MiB = 1024 ** 2;
let cluster: KeelCluster;

beforeAll(async () => {
  cluster = await startCluster({ database: clusterDatabase(), s3MemoryBytes: 1024 ** 3 });
}, 240_000);
afterAll(() => cluster?.stop(), 120_000);

const digestOf = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** POST through the load balancer; the session's path (Location). */
async function startUpload(base: string, repo: string): Promise<string> {
  const res = await send(base, 'POST', `/v2/${repo}/blobs/uploads/`, undefined, { 'Content-Length': '0' });
  expect(res.status).toBe(202);
  const location = res.headers.location;
  if (typeof location !== 'string') throw new Error('POST answered no Location');
  // Keel answers a path: the client resolves it against the address it used (the balancer).
  expect(location.startsWith('/v2/')).toBe(true);
  return location;
}

/**
 * The replicas (by name) that logged a `method` request of the session at `location`, with how
 * many each, once `total` such lines are logged: a replica writes its request line as the
 * response closes, which may be just after the client has read it.
 */
async function servedBy(method: string, location: string, total: number): Promise<Record<string, number>> {
  const path = location.split('?')[0] as string;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const byReplica = await requestsByReplica(cluster, (e) => e.method === method && e.path === path);
    const counts: Record<string, number> = {};
    for (const [name, entries] of byReplica) if (entries.length > 0) counts[name] = entries.length;
    const logged = Object.values(counts).reduce((a, b) => a + b, 0);
    if (logged >= total) return counts;
    if (Date.now() > deadline) throw new Error(`${logged} of ${total} ${method} requests of ${path} logged: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function patch(base: string, location: string, offset: number, chunk: Buffer): Promise<number> {
  const res = await send(base, 'PATCH', location, Readable.from([chunk]), {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(chunk.length),
    'Content-Range': `${offset}-${offset + chunk.length - 1}`,
  });
  return res.status;
}

test('a chunked push through the balancer: its PATCHes land on several replicas, every replica serves the blob', async () => {
  const data = randomBytes(12 * MiB);
  const digest = digestOf(data);
  const location = await startUpload(cluster.lb.url, 'ha/chunked');
  const pieces = Array.from({ length: 12 }, (_, i) => data.subarray(i * MiB, (i + 1) * MiB));
  const sent = await patchInChunks(cluster.lb.url, location, Readable.from(pieces), MiB);
  expect(sent).toBe(data.length);
  const put = await send(cluster.lb.url, 'PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, undefined, { 'Content-Length': '0' });
  expect(put.status).toBe(201);

  const patches = await servedBy('PATCH', location, 12);
  expect(Object.values(patches).reduce((a, b) => a + b, 0)).toBe(12);
  // Round-robin over three replicas: twelve PATCHes in a row cannot all land on one.
  expect(Object.keys(patches).length).toBeGreaterThan(1);
  for (const r of cluster.replicas) {
    expect(await streamPull(`${r.url}/v2/ha/chunked/blobs/${digest}`)).toEqual({ status: 200, digest, bytes: data.length });
  }
});

test('a replica that served PATCHes of a session is killed (SIGKILL) mid-upload: the client goes on through the balancer and finishes; restarted, it serves the session too', async () => {
  const chunks = Array.from({ length: 8 }, () => randomBytes(MiB));
  const data = Buffer.concat(chunks);
  const digest = digestOf(data);
  const location = await startUpload(cluster.lb.url, 'ha/restarted');
  let offset = 0;
  for (const chunk of chunks.slice(0, 3)) {
    expect(await patch(cluster.lb.url, location, offset, chunk)).toBe(202);
    offset += chunk.length;
  }
  const before = await servedBy('PATCH', location, 3);
  // A replica that served a PATCH of this session (it has held the session's claim).
  const victim = cluster.replicas.findIndex((r) => (before[r.name] ?? 0) > 0);
  expect(victim).toBeGreaterThanOrEqual(0);
  await cluster.kill(victim);

  for (const chunk of chunks.slice(3, 6)) {
    expect(await patch(cluster.lb.url, location, offset, chunk)).toBe(202);
    offset += chunk.length;
  }
  const during = await servedBy('PATCH', location, 6);
  const victimName = cluster.replicas[victim]?.name as string;
  // The dead replica served none of the PATCHes sent after its death.
  expect(during[victimName]).toBe(before[victimName]);

  await cluster.restart(victim);
  const restarted = cluster.replicas[victim];
  if (!restarted) throw new Error('no victim');
  // The restarted replica, asked directly, takes the next PATCH and the PUT of the same session.
  expect(await patch(restarted.url, location, offset, chunks[6] as Buffer)).toBe(202);
  offset += MiB;
  expect(await patch(cluster.lb.url, location, offset, chunks[7] as Buffer)).toBe(202);
  const put = await send(restarted.url, 'PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, undefined, { 'Content-Length': '0' });
  expect(put.status).toBe(201);
  expect(await streamPull(`${cluster.lb.url}/v2/ha/restarted/blobs/${digest}`)).toEqual({ status: 200, digest, bytes: data.length });
}, 180_000);
