/**
 * The pull-through part: a second Distribution is the upstream; Keel reaches it as a named
 * upstream under /v2/proxy/<name>/..., Distribution-as-proxy (its `proxy: remoteurl:`) under
 * the plain name. For each: the first byte of a few cache misses (each next to the upstream's
 * own first byte for that blob, measured directly just before), then cache hits, then 20
 * clients missing a fresh blob at once, with the upstream GETs counted from the upstream's
 * access log. Medians are reported.
 */
import { countRequests } from '../../test/support/e2e/access-log.js';
import { BlobData } from './blob-data.js';
import { curlGet } from './curl-get.js';
import type { WorkloadContext } from './local-workload.js';
import { median, mibPerSecond, sleep, syncDisks, waitForFile } from './measure.js';
import type { RegistryClient } from './registry-client.js';
import { SERVER_LABEL, type ServerId } from './report.js';
import type { BenchServer } from './servers.js';

export interface ProxyTarget {
  id: ServerId;
  server: BenchServer;
  client: RegistryClient;
  /** The URL path of an upstream blob through this proxy. */
  blobPath(repo: string, digest: string): string;
  /**
   * A local blob of the proxied blobs' size on the same server: it is read in turns with the
   * cache hits, so that hits and local GETs are compared under the same conditions.
   */
  localBlobPath?: string;
}

export interface Upstream {
  server: BenchServer;
  client: RegistryClient;
}

const UPSTREAM_REPO = 'bench/upstream';
const UPSTREAM_TTFB_SAMPLES = 3;
/** Time for the last access-log lines to reach the file after the bytes did. */
const LOG_SETTLE_MS = 1_000;

export async function runProxyWorkload(ctx: WorkloadContext, upstream: Upstream, targets: readonly ProxyTarget[]): Promise<void> {
  const s = ctx.settings;
  const { results } = ctx;
  // One set of miss blobs serves both proxies (their caches are apart); herd blobs are fresh
  // per proxy, so each count starts from a clean slate in the upstream's log.
  const missBlobs = Array.from({ length: s.proxyMisses }, () => BlobData.create(s.proxyBlobSize));
  for (const blob of missBlobs) await upstream.client.pushMonolithic(UPSTREAM_REPO, blob);
  const herdBlobs = new Map<ServerId, BlobData>();
  for (const t of targets) {
    const blob = BlobData.create(s.herdBlobSize);
    await upstream.client.pushMonolithic(UPSTREAM_REPO, blob);
    herdBlobs.set(t.id, blob);
  }
  await syncDisks();
  const upstreamGets = (digest: string): Promise<number> => countRequests(upstream.server.logFile, 'GET', `/blobs/${digest}`);

  for (const t of targets) {
    const who = SERVER_LABEL[t.id];
    const misses: { upstreamTtfb: number; ttfb: number; mibps: number; totalMs: number; gapMs: number }[] = [];
    for (const blob of missBlobs) {
      const direct: number[] = [];
      for (let i = 0; i < UPSTREAM_TTFB_SAMPLES; i++) {
        direct.push((await upstream.client.download(`/v2/${UPSTREAM_REPO}/blobs/${blob.digest}`, { firstByteOnly: true })).firstByteMs);
      }
      const miss = await t.client.download(t.blobPath(UPSTREAM_REPO, blob.digest));
      if (miss.bytes !== blob.size) throw new Error(`${who}: cache miss of ${blob.digest} gave ${miss.bytes} of ${blob.size} bytes`);
      misses.push({
        upstreamTtfb: median(direct),
        ttfb: miss.firstByteMs,
        mibps: mibPerSecond(miss.bytes, miss.totalMs),
        totalMs: miss.totalMs,
        gapMs: miss.lastChunkGapMs,
      });
    }
    const mid = (pickField: (m: (typeof misses)[number]) => number): number => median(misses.map(pickField));
    results.set('upstream_ttfb_ms', t.id, mid((m) => m.upstreamTtfb));
    results.set('proxy_miss_ttfb_ms', t.id, mid((m) => m.ttfb));
    results.set('proxy_miss_ttfb_over_upstream_ms', t.id, mid((m) => m.ttfb - m.upstreamTtfb));
    results.set('proxy_miss_mibps', t.id, mid((m) => m.mibps));
    results.extra[`${t.id}_proxy_miss_total_ms`] = Math.round(mid((m) => m.totalMs));
    results.extra[`${t.id}_proxy_miss_last_chunk_gap_ms`] = Math.round(mid((m) => m.gapMs));
    const firstBytes = misses.map((m) => `${m.ttfb.toFixed(1)}/${m.upstreamTtfb.toFixed(1)}`).join(', ');
    ctx.log(`proxy miss: ${who} first byte ms (through the proxy/upstream direct) ${firstBytes}; ${await ctx.memory('proxy_miss')}`);

    const hitBlob = missBlobs[0];
    if (hitBlob === undefined) throw new Error('no blob to hit');
    await waitForFile(t.server.blobFile('proxy', hitBlob.digest));
    await sleep(LOG_SETTLE_MS);
    const before = await upstreamGets(hitBlob.digest);
    const hits: number[] = [];
    const locals: number[] = [];
    for (let i = 0; i < s.getRepeats; i++) {
      const hit = await curlGet(t.client.url(t.blobPath(UPSTREAM_REPO, hitBlob.digest)).href);
      if (hit.bytes !== hitBlob.size) throw new Error(`${who}: cache hit of ${hitBlob.digest} gave ${hit.bytes} of ${hitBlob.size} bytes`);
      hits.push(mibPerSecond(hit.bytes, hit.totalMs));
      if (t.localBlobPath !== undefined) {
        const local = await curlGet(t.client.url(t.localBlobPath).href);
        if (local.bytes !== hitBlob.size) throw new Error(`${who}: local GET ${t.localBlobPath} gave ${local.bytes} of ${hitBlob.size} bytes`);
        locals.push(mibPerSecond(local.bytes, local.totalMs));
      }
    }
    results.set('proxy_hit_mibps', t.id, median(hits));
    const localMedian = locals.length > 0 ? median(locals) : undefined;
    if (localMedian !== undefined) results.extra[`${t.id}_local_get_beside_hits_mibps`] = localMedian;
    await sleep(LOG_SETTLE_MS);
    const hitGets = (await upstreamGets(hitBlob.digest)) - before;
    results.extra[`${t.id}_proxy_hit_upstream_gets`] = hitGets;
    if (hitGets > 0) results.notes.push(`${who}: its cache hits still made ${hitGets} upstream GETs.`);
    const beside = localMedian !== undefined ? ` (its local GET in turns with them: ${localMedian.toFixed(0)} MiB/s)` : '';
    ctx.log(`proxy hit: ${who} ${median(hits).toFixed(0)} MiB/s${beside}; ${await ctx.memory('proxy_hit')}`);

    const herd = herdBlobs.get(t.id);
    if (herd === undefined) throw new Error(`no herd blob for ${t.id}`);
    const herdPath = t.blobPath(UPSTREAM_REPO, herd.digest);
    const start = performance.now();
    // One client checks the content: the others only count bytes, to keep the client light.
    const downloads = await Promise.all(Array.from({ length: s.herdClients }, (_, i) => t.client.download(herdPath, { hash: i === 0 })));
    results.set('proxy_herd_seconds', t.id, (performance.now() - start) / 1000);
    const short = downloads.filter((d) => d.bytes !== herd.size).length;
    if (short > 0 || downloads[0]?.digest !== herd.digest) {
      throw new Error(`${who}: ${short} of ${s.herdClients} concurrent misses were incomplete, or the content was wrong`);
    }
    await waitForFile(t.server.blobFile('proxy', herd.digest));
    await sleep(LOG_SETTLE_MS);
    const herdGets = await upstreamGets(herd.digest);
    results.set('proxy_herd_upstream_gets', t.id, herdGets);
    ctx.log(`proxy herd: ${who} ${herdGets} upstream GETs for ${s.herdClients} clients; ${await ctx.memory('proxy_herd')}`);
  }
}
