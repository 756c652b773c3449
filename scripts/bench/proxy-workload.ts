/**
 * The pull-through part: a second Distribution is the upstream; Keel reaches it as a named
 * upstream under /v2/proxy/<name>/..., Distribution-as-proxy (its `proxy: remoteurl:`) under
 * the plain name. First the cache misses, in turns: for each fresh blob, the upstream's own
 * whole GET of it (the limit), then one miss through each proxy, the order alternating from
 * blob to blob; each miss's first byte is set beside the upstream's own first byte for that
 * blob, measured directly just before. Then, per proxy, cache hits and 20 clients missing a
 * fresh blob at once, with the upstream GETs counted from the upstream's access log. Medians
 * are reported.
 */
import { countRequests } from '../../test/support/e2e/access-log.js';
import { BlobData } from './blob-data.js';
import { curlGet } from './curl-get.js';
import type { WorkloadContext } from './local-workload.js';
import { rm } from 'node:fs/promises';
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
  const upstreamGets = (digest: string): Promise<number> => countRequests(upstream.server, 'GET', `/blobs/${digest}`);

  await runMisses(ctx, upstream, targets, missBlobs);

  for (const t of targets) {
    const who = SERVER_LABEL[t.id];
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

interface MissSample {
  upstreamTtfb: number;
  ttfb: number;
  mibps: number;
  totalMs: number;
  gapMs: number;
}

/**
 * The cold misses, in turns: for blob i, the upstream's whole GET of it directly (the row's
 * limit: the same Node client, the same bytes), then each proxy's miss of it, the proxies'
 * order reversed on every other blob so neither always goes first after the upstream's read.
 * `sync` runs before each timed read: Distribution does not fsync, and its dirty pages
 * would otherwise be written back during the next server's miss. Every miss blob but the
 * first (read again as cache hits) is removed from the proxies' disks after its turn, and
 * from the upstream's once both proxies have it, so the disk holds a few GiB at most.
 */
async function runMisses(ctx: WorkloadContext, upstream: Upstream, targets: readonly ProxyTarget[], missBlobs: readonly BlobData[]): Promise<void> {
  const { results } = ctx;
  const misses = new Map<ServerId, MissSample[]>(targets.map((t) => [t.id, []]));
  const direct: number[] = [];
  for (const [i, blob] of missBlobs.entries()) {
    const upstreamPath = `/v2/${UPSTREAM_REPO}/blobs/${blob.digest}`;
    await syncDisks();
    const whole = await upstream.client.download(upstreamPath);
    if (whole.bytes !== blob.size) throw new Error(`upstream: direct GET of ${blob.digest} gave ${whole.bytes} of ${blob.size} bytes`);
    direct.push(mibPerSecond(whole.bytes, whole.totalMs));
    const order = i % 2 === 0 ? targets : [...targets].reverse();
    const turn: string[] = [`upstream ${direct.at(-1)?.toFixed(0) ?? '?'}`];
    for (const t of order) {
      const who = SERVER_LABEL[t.id];
      const ttfbs: number[] = [];
      for (let k = 0; k < UPSTREAM_TTFB_SAMPLES; k++) ttfbs.push((await upstream.client.download(upstreamPath, { firstByteOnly: true })).firstByteMs);
      await syncDisks();
      const miss = await t.client.download(t.blobPath(UPSTREAM_REPO, blob.digest));
      if (miss.bytes !== blob.size) throw new Error(`${who}: cache miss of ${blob.digest} gave ${miss.bytes} of ${blob.size} bytes`);
      const sample = { upstreamTtfb: median(ttfbs), ttfb: miss.firstByteMs, mibps: mibPerSecond(miss.bytes, miss.totalMs), totalMs: miss.totalMs, gapMs: miss.lastChunkGapMs };
      misses.get(t.id)?.push(sample);
      turn.push(`${who} ${sample.mibps.toFixed(0)} (first byte ${sample.ttfb.toFixed(1)}/${sample.upstreamTtfb.toFixed(1)} ms)`);
    }
    ctx.log(`proxy miss ${i + 1}/${missBlobs.length}, MiB/s in turns: ${turn.join(', ')}`);
    if (i === 0) continue;
    for (const t of targets) {
      const file = t.server.blobFile('proxy', blob.digest);
      await waitForFile(file);
      await rm(file);
    }
    await rm(upstream.server.blobFile('registry', blob.digest));
  }
  results.set('proxy_miss_mibps', 'limit', median(direct));
  results.extra.proxy_miss_upstream_direct_samples_mibps = direct.map((d) => Math.round(d)).join('/');
  for (const t of targets) {
    const samples = misses.get(t.id) ?? [];
    const mid = (pick: (m: MissSample) => number): number => median(samples.map(pick));
    results.set('upstream_ttfb_ms', t.id, mid((m) => m.upstreamTtfb));
    results.set('proxy_miss_ttfb_ms', t.id, mid((m) => m.ttfb));
    results.set('proxy_miss_ttfb_over_upstream_ms', t.id, mid((m) => m.ttfb - m.upstreamTtfb));
    results.set('proxy_miss_mibps', t.id, mid((m) => m.mibps));
    results.extra[`${t.id}_proxy_miss_samples_mibps`] = samples.map((m) => Math.round(m.mibps)).join('/');
    results.extra[`${t.id}_proxy_miss_total_ms`] = Math.round(mid((m) => m.totalMs));
    results.extra[`${t.id}_proxy_miss_last_chunk_gap_ms`] = Math.round(mid((m) => m.gapMs));
  }
  ctx.log(`proxy miss: done; ${await ctx.memory('proxy_miss')}`);
}
