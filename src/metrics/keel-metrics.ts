/**
 * Prometheus metrics (prom-client), on a registry of Keel's own (no global state): requests
 * by route, method and status with latency; bytes pushed and served; the proxy's cache hits
 * and misses, upstream traffic, latency, errors and token fetches per upstream or group
 * member; single-flight joins; writes that waited for the index's lock; uploads in progress;
 * store sizes; the last GC run; scheduled syncs' runs, failures in a row and last success;
 * warming's images, blobs and bytes, and what it has pending. Every series carries a `replica` label (cluster.replica, or
 * the host name): several replicas scraped into one Prometheus stay apart, and a sum over the
 * label is the whole deployment's figure.
 */
import client from 'prom-client';
import type { LastGcRun } from '../gc/last-run.js';
import type { ProxyMetrics } from '../proxy/proxy-metrics.js';
import type { SyncMetrics } from '../proxy/sync-metrics.js';
import type { WarmMetrics } from '../proxy/warm-metrics.js';
import type { StoreStats } from '../storage/store-stats.js';
import { DurationHistogram } from './duration-histogram.js';
import { RequestTally } from './request-tally.js';

export class KeelMetrics implements ProxyMetrics, SyncMetrics, WarmMetrics {
  readonly registry = new client.Registry();
  private readonly requests;
  private readonly duration: DurationHistogram;
  private readonly bytesIn;
  private readonly bytesOut;
  private readonly tally: RequestTally;
  private readonly hits;
  private readonly misses;
  private readonly joins;
  private readonly peerRelays;
  private readonly peerTakeovers;
  private readonly upstreamRequests;
  private readonly upstreamDuration;
  private readonly upstreamBytesTotal;
  private readonly tokens;
  private readonly integrity;
  private readonly indexWaits;
  private readonly streamRejections;
  private readonly syncRuns;
  private readonly syncFailures;
  private readonly syncLastSuccess;
  private readonly syncImages;
  private readonly warmImages;
  private readonly warmBlobs;
  private readonly warmBytes;
  private readonly warmPendingBlobs;
  private readonly warmPendingBytes;
  private readonly warmRunsActive;
  /** The blob stream gate's counts, read on each scrape (set once the gate exists). */
  private streams: { readonly active: number; readonly waiting: number } | undefined;

  /** `lastGcRun` reads the last GC run's record (a file beside SQLite, a row in PostgreSQL). */
  constructor(stats: StoreStats, lastGcRun: () => Promise<LastGcRun | undefined>, replica: string) {
    const registers = [this.registry];
    // The registry adds default labels to every series it writes, Keel's own histogram's too.
    this.registry.setDefaultLabels({ replica });
    // Unprefixed: stock dashboards and alerts look for process_* and nodejs_* by these names.
    client.collectDefaultMetrics({ register: this.registry });
    const collect = (): void => this.tally.drain();
    this.requests = new client.Counter({ name: 'keel_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers, collect });
    this.duration = new DurationHistogram(
      'keel_http_request_duration_seconds',
      'HTTP request latency by route and method',
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      this.registry,
    );
    this.bytesIn = new client.Counter({ name: 'keel_bytes_received_total', help: 'Request bytes received (pushes), by route', labelNames: ['route'], registers, collect });
    this.bytesOut = new client.Counter({ name: 'keel_bytes_served_total', help: 'Response bytes sent (pulls), by route', labelNames: ['route'], registers, collect });
    this.tally = new RequestTally((t) => {
      this.requests.inc({ route: t.route, method: t.method, status: t.status }, t.requests);
      if (t.bytesIn > 0) this.bytesIn.inc({ route: t.route }, t.bytesIn);
      if (t.bytesOut > 0) this.bytesOut.inc({ route: t.route }, t.bytesOut);
    });
    this.hits = new client.Counter({ name: 'keel_proxy_cache_hits_total', help: 'Proxy requests served from the cache', labelNames: ['upstream', 'kind'], registers });
    this.misses = new client.Counter({ name: 'keel_proxy_cache_misses_total', help: 'Proxy requests that went upstream', labelNames: ['upstream', 'kind'], registers });
    this.joins = new client.Counter({ name: 'keel_proxy_singleflight_joins_total', help: 'Requests that joined a fetch already in flight', labelNames: ['kind'], registers });
    this.peerRelays = new client.Counter({ name: 'keel_proxy_peer_relays_total', help: 'Streams of a proxy download followed from the replica holding it', registers });
    this.syncRuns = new client.Counter({ name: 'keel_sync_runs_total', help: 'Runs of [[proxy.sync]] entries (numbered from 1) by outcome: synced, failed, skipped (another replica held it)', labelNames: ['entry', 'upstream', 'outcome'], registers });
    this.syncFailures = new client.Gauge({ name: 'keel_sync_consecutive_failures', help: 'Runs of a [[proxy.sync]] entry that failed in a row (0 after a success)', labelNames: ['entry', 'upstream'], registers });
    this.syncLastSuccess = new client.Gauge({ name: 'keel_sync_last_success_timestamp_seconds', help: 'When a [[proxy.sync]] entry last synced on this replica', labelNames: ['entry', 'upstream'], registers });
    this.syncImages = new client.Gauge({
      name: 'keel_sync_images',
      help: 'Images a [[proxy.sync]] entry selected on its last run that read its tag lists, by state: warm, or failed (still pending)',
      labelNames: ['entry', 'upstream', 'state'],
      registers,
    });
    this.warmImages = new client.Counter({
      name: 'keel_warm_images_total',
      help: 'Images warming (the warm API and scheduled syncs) finished, by outcome: warm, failed, stopped (the client went away or the server closed first); dry runs not counted',
      labelNames: ['upstream', 'outcome'],
      registers,
    });
    this.warmBlobs = new client.Counter({ name: 'keel_warm_blobs_total', help: 'Blobs warming stored, by state: fetched now, or already cached; dry runs not counted', labelNames: ['upstream', 'state'], registers });
    this.warmBytes = new client.Counter({ name: 'keel_warm_bytes_total', help: 'Bytes of the blobs warming stored, by state: fetched now, or already cached', labelNames: ['upstream', 'state'], registers });
    this.warmPendingBlobs = new client.Gauge({ name: 'keel_warm_pending_blobs', help: 'Blobs of images being warmed now that are not stored yet (downloading or waiting)', registers });
    this.warmPendingBytes = new client.Gauge({ name: 'keel_warm_pending_bytes', help: 'Bytes of the blobs keel_warm_pending_blobs counts', registers });
    this.warmRunsActive = new client.Gauge({ name: 'keel_warm_requests_in_progress', help: 'Warm runs in progress: warm API requests and scheduled sync runs', registers });
    this.peerTakeovers = new client.Counter({ name: 'keel_proxy_peer_takeovers_total', help: 'Proxy downloads taken over from the upstream after the replica holding them died', registers });
    this.upstreamRequests = new client.Counter({
      name: 'keel_upstream_requests_total',
      help: 'Requests to upstream registries by member, method and status (0: no HTTP answer)',
      labelNames: ['member', 'method', 'status'],
      registers,
    });
    this.upstreamDuration = new client.Histogram({
      name: 'keel_upstream_request_duration_seconds',
      help: 'Time to the upstream response headers',
      labelNames: ['member'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.upstreamBytesTotal = new client.Counter({ name: 'keel_upstream_bytes_total', help: 'Blob bytes fetched from upstreams', labelNames: ['upstream', 'member'], registers });
    this.tokens = new client.Counter({ name: 'keel_upstream_token_fetches_total', help: 'Bearer tokens fetched from upstream token services', labelNames: ['member', 'result'], registers });
    this.integrity = new client.Counter({
      name: 'keel_blob_integrity_failures_total',
      help: 'Blob files found missing or of another length than the index records (answered as unknown blobs)',
      labelNames: ['store'],
      registers,
    });
    this.indexWaits = new client.Counter({
      name: 'keel_index_write_waits_total',
      help: 'Index writes that found the write lock held by another process (GC) and waited for it',
      registers,
    });
    this.streamRejections = new client.Counter({
      name: 'keel_blob_stream_rejections_total',
      help: 'Blob GETs answered 503 because limits.blob_streams were all busy: the queue was full, or the wait ran out',
      labelNames: ['reason'],
      registers,
    });
    const streams = (): { readonly active: number; readonly waiting: number } | undefined => this.streams;
    new client.Gauge({
      name: 'keel_blob_streams_active',
      help: 'Blob GET bodies being sent (at most limits.blob_streams)',
      registers,
      collect() {
        this.set(streams()?.active ?? 0);
      },
    });
    new client.Gauge({
      name: 'keel_blob_streams_waiting',
      help: 'Blob GETs waiting for a stream (at most limits.blob_stream_queue)',
      registers,
      collect() {
        this.set(streams()?.waiting ?? 0);
      },
    });
    new client.Gauge({
      name: 'keel_uploads_in_progress',
      help: 'Open upload sessions',
      registers,
      async collect() {
        this.set(await stats.uploadsInProgress());
      },
    });
    new client.Gauge({
      name: 'keel_store_bytes',
      help: 'Bytes of content recorded in each store',
      labelNames: ['store'],
      registers,
      async collect() {
        const sizes = await stats.storeBytes();
        this.set({ store: 'registry' }, sizes.registry);
        this.set({ store: 'proxy' }, sizes.proxy);
      },
    });
    const gcFigure = (name: string, help: string, pick: (s: { blobs: number; bytes: number }) => number): void => {
      new client.Gauge({
        name,
        help,
        labelNames: ['store'],
        registers,
        async collect() {
          const last = await lastGcRun();
          for (const s of last?.stores ?? []) this.set({ store: s.store }, pick(s));
        },
      });
    };
    gcFigure('keel_gc_last_freed_bytes', 'Bytes the last GC run freed, per store', (s) => s.bytes);
    gcFigure('keel_gc_last_deleted_blobs', 'Blobs the last GC run deleted, per store', (s) => s.blobs);
    new client.Gauge({
      name: 'keel_gc_last_run_timestamp_seconds',
      help: 'When the last GC run finished (0: never)',
      registers,
      async collect() {
        this.set(((await lastGcRun())?.finishedAt ?? 0) / 1000);
      },
    });
    new client.Gauge({
      name: 'keel_gc_last_duration_seconds',
      help: 'How long the last GC run took',
      registers,
      async collect() {
        this.set(((await lastGcRun())?.durationMs ?? 0) / 1000);
      },
    });
  }

  request(route: string, method: string, status: number, seconds: number, bytesIn: number, bytesOut: number): void {
    this.tally.add(route, method, status, bytesIn, bytesOut);
    this.duration.observe(route, method, seconds);
  }

  cacheHit(upstream: string, kind: 'manifest' | 'blob'): void {
    this.hits.inc({ upstream, kind });
  }

  cacheMiss(upstream: string, kind: 'manifest' | 'blob'): void {
    this.misses.inc({ upstream, kind });
  }

  joined(kind: 'manifest' | 'blob'): void {
    this.joins.inc({ kind });
  }

  upstreamRequest(member: string, method: string, status: number, seconds: number): void {
    this.upstreamRequests.inc({ member, method, status: String(status) });
    this.upstreamDuration.observe({ member }, seconds);
  }

  upstreamBytes(upstream: string, member: string, bytes: number): void {
    this.upstreamBytesTotal.inc({ upstream, member }, bytes);
  }

  integrityFailure(store: 'registry' | 'proxy'): void {
    this.integrity.inc({ store });
  }

  indexWriteWaited(): void {
    this.indexWaits.inc();
  }

  tokenFetched(member: string, ok: boolean): void {
    this.tokens.inc({ member, result: ok ? 'ok' : 'refused' });
  }

  /** The blob stream gate whose counts the gauges report. */
  watchBlobStreams(gate: { readonly active: number; readonly waiting: number }): void {
    this.streams = gate;
  }

  blobStreamRejected(reason: 'queue_full' | 'wait_timeout'): void {
    this.streamRejections.inc({ reason });
  }

  peerRelay(): void {
    this.peerRelays.inc();
  }

  syncRun(entry: number, upstream: string, outcome: 'synced' | 'failed' | 'skipped', failures: number, endedAt: number, images?: { warm: number; failed: number }): void {
    const labels = { entry: String(entry), upstream };
    this.syncRuns.inc({ ...labels, outcome });
    if (outcome === 'skipped') return;
    if (images) {
      this.syncImages.set({ ...labels, state: 'warm' }, images.warm);
      this.syncImages.set({ ...labels, state: 'failed' }, images.failed);
    }
    this.syncFailures.set(labels, failures);
    if (outcome === 'synced') this.syncLastSuccess.set(labels, endedAt / 1000);
  }

  warmRuns(delta: 1 | -1): void {
    this.warmRunsActive.inc(delta);
  }

  warmPending(blobs: number, bytes: number): void {
    this.warmPendingBlobs.inc(blobs);
    this.warmPendingBytes.inc(bytes);
  }

  warmBlob(upstream: string, state: 'fetched' | 'cached', bytes: number): void {
    this.warmBlobs.inc({ upstream, state });
    this.warmBytes.inc({ upstream, state }, bytes);
  }

  warmImage(upstream: string, outcome: 'warm' | 'failed' | 'stopped'): void {
    this.warmImages.inc({ upstream, outcome });
  }

  peerTakeover(): void {
    this.peerTakeovers.inc();
  }
}
