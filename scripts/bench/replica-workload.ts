/**
 * The replica part: the single Keel on S3 and 3 Keel replicas behind nginx (replica-cluster.ts),
 * taking turns.
 *
 * - Manifest GET by tag: the registry part's load (wrk, same connections, warm-up and seconds)
 *   against the single Keel, then against nginx: the replicas' aggregate req/s and its ratio to
 *   the one Keel measured beside it in this run.
 * - Cold-miss herd: one fresh blob is pushed to the upstream; `herdClients` clients miss it at
 *   once on the single Keel, then through nginx (spread round-robin over the replicas). The time
 *   is until the last client has every byte, each client hashing what it got (all must match the
 *   digest); the upstream GETs of the blob are counted in its access log. The replicas must make
 *   exactly 1 (issue 18's cross-replica single-flight): anything else fails the bench.
 */
import type { KeelCluster } from '../../test/support/keel-cluster.js';
import { countRequests } from '../../test/support/e2e/access-log.js';
import { BlobData } from './blob-data.js';
import { wrkGet } from './load.js';
import { OCI_MANIFEST, REPO, TAG, loadStep, pushImage, type WorkloadContext } from './local-workload.js';
import { sleep, syncDisks } from './measure.js';
import type { Upstream } from './proxy-workload.js';
import { RegistryClient } from './registry-client.js';
import { SERVER_LABEL, type ServerId } from './report.js';
import { MiB, formatSize } from './settings.js';

export interface ReplicaTarget {
  id: ServerId;
  /** Where clients send requests: the Keel itself, or nginx in front of the replicas. */
  url: string;
  client: RegistryClient;
}

const UPSTREAM_REPO = 'bench/replica-herd';
/** Time for the last access-log lines to reach the file after the bytes did. */
const LOG_SETTLE_MS = 1_000;
const LOG_WAIT_MS = 60_000;

export async function runReplicaWorkload(
  ctx: WorkloadContext,
  upstream: Upstream,
  proxyPath: (repo: string, digest: string) => string,
  single: ReplicaTarget | undefined,
  replicas: ReplicaTarget,
  cluster: KeelCluster,
): Promise<void> {
  const s = ctx.settings;
  const targets = single === undefined ? [replicas] : [single, replicas];

  // The image wrk asks for: a fresh 1 MiB layer under it, the same manifest shape as the registry part's.
  const layer = BlobData.create(MiB);
  for (const t of targets) {
    await t.client.pushMonolithic(REPO, layer);
    await pushImage(t.client, layer);
  }
  const load = { seconds: s.loadSeconds, connections: s.connections };
  await loadStep(ctx, targets, 'replica_manifest_get', (t, seconds) =>
    wrkGet(`${t.url}/v2/${REPO}/manifests/${TAG}`, { ...load, seconds, headers: { Accept: OCI_MANIFEST } }),
  );
  const manifestPath = `/v2/${REPO}/manifests/${TAG}`;
  const spread = countBy((await cluster.lb.accessLog()).filter((r) => r.method === 'GET' && r.uri === manifestPath), (r) => r.upstream);
  ctx.results.extra.replica_manifest_get_by_replica = [...spread.values()].join('/');
  ctx.log(`replica_manifest_get: nginx sent ${[...spread.entries()].map(([u, n]) => `${n} to ${u}`).join(', ')}`);
  // Not in the table: the same load on one replica directly, which tells nginx's share of the
  // aggregate figure from the replicas' own (each reads the shared index for every request).
  const first = cluster.replicas[0];
  if (first !== undefined) {
    await wrkGet(`${first.url}${manifestPath}`, { ...load, seconds: s.warmupSeconds, headers: { Accept: OCI_MANIFEST } });
    const direct = await wrkGet(`${first.url}${manifestPath}`, { ...load, headers: { Accept: OCI_MANIFEST } });
    ctx.results.extra.replica_manifest_get_one_replica_direct_rps = Math.round(direct.requestsPerSecond);
    ctx.results.extra.replica_manifest_get_one_replica_direct_p99_ms = Math.round(direct.p99Ms * 10) / 10;
    ctx.log(`replica_manifest_get: replica ${first.name} alone, not through nginx: ${direct.requestsPerSecond.toFixed(0)} req/s, p99 ${direct.p99Ms.toFixed(2)} ms`);
  }

  const blob = BlobData.create(s.replicaHerdBlobSize);
  await upstream.client.pushMonolithic(UPSTREAM_REPO, blob);
  await syncDisks();
  const upstreamGets = (): Promise<number> => countRequests(upstream.server, 'GET', `/blobs/${blob.digest}`);
  const path = proxyPath(UPSTREAM_REPO, blob.digest);
  for (const t of targets) {
    const who = SERVER_LABEL[t.id];
    const before = await upstreamGets();
    // A client of its own: 20 fresh connections, so nginx spreads them over every replica.
    const herd = new RegistryClient(t.url);
    let seconds: number;
    try {
      const start = performance.now();
      const settled = await Promise.allSettled(Array.from({ length: s.herdClients }, () => herd.download(path, { hash: true })));
      seconds = (performance.now() - start) / 1000;
      const wrong = settled.flatMap((r, i) => {
        if (r.status === 'rejected') return [`client ${i}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`];
        return r.value.bytes === blob.size && r.value.digest === blob.digest ? [] : [`client ${i}: ${r.value.bytes} of ${blob.size} bytes, ${r.value.digest ?? '?'}`];
      });
      if (wrong.length > 0) {
        // The clients' errors last: a caller showing the tail of this message shows them.
        const problems = t.id === 'keel_replicas' ? `replica warnings, errors and aborted requests of ${path}:\n${(await cluster.problems(path)).join('\n')}\n` : '';
        throw new Error(`${who}: ${wrong.length} of ${s.herdClients} clients missing ${blob.digest} did not get its bytes.\n${problems}the clients:\n${wrong.join('\n')}`);
      }
    } finally {
      herd.close();
    }
    // Distribution logs a GET once it has answered it, which may be just after the last byte left.
    for (const deadline = Date.now() + LOG_WAIT_MS; (await upstreamGets()) === before && Date.now() < deadline; ) await sleep(50);
    await sleep(LOG_SETTLE_MS);
    const gets = (await upstreamGets()) - before;
    ctx.results.set('replica_herd_seconds', t.id, seconds);
    ctx.results.set('replica_herd_upstream_gets', t.id, gets);
    ctx.log(`replica herd: ${who} ${seconds.toFixed(2)} s for ${s.herdClients} clients of ${formatSize(blob.size)}, ${gets} upstream GETs; ${await ctx.memory('replica_herd')}`);
    if (t.id === 'keel_replicas') {
      const byReplica = countBy((await cluster.lb.accessLog()).filter((r) => r.method === 'GET' && r.uri === path), (r) => r.upstream);
      ctx.results.extra.replica_herd_clients_by_replica = [...byReplica.values()].join('/');
      ctx.log(`replica herd: nginx sent ${[...byReplica.entries()].map(([u, n]) => `${n} clients to ${u}`).join(', ')}`);
      if (gets !== 1) {
        throw new Error(`${who}: ${gets} upstream GETs of ${blob.digest} for ${s.herdClients} clients spread over the replicas; cross-replica single-flight must make exactly 1`);
      }
    } else if (gets !== 1) {
      ctx.results.notes.push(`${who}: ${gets} upstream GETs for the replica part's ${s.herdClients}-client cold miss (expected 1).`);
    }
  }
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + 1);
  return new Map([...out.entries()].sort(([a], [b]) => a.localeCompare(b)));
}
