/**
 * Builds everything the app serves from the configuration: stores, index, registry and proxy
 * services, mirror policy, authentication, metrics. The one place that knows which
 * implementation backs each interface.
 */
import type { Logger } from 'pino';
import type { AppAuth } from './app.js';
import { createAuth } from './auth/create-auth.js';
import { replicaName } from './config/replica-name.js';
import type { Config } from './config/schema.js';
import { readLastRun } from './gc/last-run.js';
import { KeelMetrics } from './metrics/keel-metrics.js';
import { BlobFetcher } from './proxy/blob-fetcher.js';
import { MemberHealth } from './proxy/member-health.js';
import { PeerAuth } from './proxy/peer-auth.js';
import { PeerDownloads } from './proxy/peer-downloads.js';
import { PeerIdentity } from './proxy/peer-identity.js';
import { Mirror } from './proxy/mirror.js';
import { ProxyBrowseService } from './proxy/proxy-browse.js';
import { PullThrough } from './proxy/pull-through.js';
import { SourceRequester } from './proxy/source-requester.js';
import { SyncScheduler } from './proxy/sync-scheduler.js';
import { Warmer } from './proxy/warm.js';
import { warmPace } from './proxy/warm-pace.js';
import { UpstreamActivity } from './proxy/upstream-activity.js';
import { UpstreamStatus } from './proxy/upstream-status.js';
import { ServerStatus } from './server-status.js';
import { packageVersion } from './cli/args.js';
import { describeIndex } from './config/index-location.js';
import { Sources } from './proxy/sources.js';
import { TokenCache } from './proxy/token-cache.js';
import { UpstreamClient } from './proxy/upstream-client.js';
import { Upstreams } from './proxy/upstreams.js';
import type { IntegrityReporter } from './registry/blob-integrity.js';
import type { Clock } from './primitives/clock.js';
import { v8HeapHeadroom } from './primitives/heap-headroom.js';
import { createRegistry, type Registry } from './registry/registry.js';
import type { StorageBackend } from './storage/backend.js';
import { createBackend, SendBuffers, type FreeSpace } from './storage/backends.js';
import { withCachedBlobs } from './storage/cached-blob-store.js';
import type { IndexSet } from './storage/index-set.js';
import type { StoreStats } from './storage/store-stats.js';

export interface Services {
  registry: Registry;
  proxy: PullThrough;
  /** The pull-through cache's repository listing (web UI, /api/v1/repositories?store=proxy). */
  proxyBrowse: ProxyBrowseService;
  mirror: Mirror;
  /** The one Warmer of this process: the warm API and the scheduled syncs share its concurrency limit. */
  warmer: Warmer;
  /** `[[proxy.sync]]` entries, started by the server once it listens and stopped on close. */
  sync: SyncScheduler;
  auth: AppAuth | undefined;
  stats: StoreStats;
  metrics: KeelMetrics | undefined;
  indexes: IndexSet;
  /** This replica to the others (told its address once listening), and the downloads they may follow. */
  peer: { identity: PeerIdentity; downloads: PeerDownloads };
  /** The registry's and the proxy cache's storage (readiness; closed with the server). */
  backends: { registry: StorageBackend; proxy: StorageBackend };
  /** Each upstream's and group's settings, health and hits in this process (GET /api/v1/upstreams, the UI). */
  upstreams: UpstreamStatus;
  /** Version, uptime, bytes per store and the last GC run (GET /api/v1/status, the UI). */
  status: ServerStatus;
}

/**
 * `openIndexes` builds the index once the metrics exist (they count its lock waits). Async for the token signing key: on a shared index it is read from (or first stored in) the
 * index. `openIndexes`' IndexSet is the caller's to close if this fails.
 */
export async function buildServices(config: Config, logger: Logger, clock: Clock, openIndexes: (metrics: KeelMetrics | undefined) => IndexSet, freeSpace?: FreeSpace): Promise<Services> {
  const replica = replicaName(config.cluster);
  const metrics = config.metrics.enabled
    ? new KeelMetrics({ ping: () => indexes.stats.ping(), uploadsInProgress: () => indexes.stats.uploadsInProgress(), storeBytes: () => indexes.stats.storeBytes() }, () => readLastRun(indexes.lastGcRun), replica)
    : undefined;
  const indexes = openIndexes(metrics);
  const { stats } = indexes;
  const index = indexes.registry;
  // One set of send buffers for both stores: limits.blob_send_memory bounds them together.
  const sendBuffers = new SendBuffers({ largeBudget: config.limits.blob_send_memory });
  const temp = { tempRoot: config.temporary_registry_storage, tempSetting: 'temporary_registry_storage', s3: config.s3, clock, sendBuffers, ...(freeSpace ? { freeSpace } : {}) };
  const cacheSize = config.limits.manifest_cache_size;
  const [registryBackend, proxyBackend] = await Promise.all([
    createBackend(config.storage.registry, { setting: 'registry_storage', ...temp }),
    createBackend(config.storage.proxy, { setting: 'proxy_storage', ...temp }),
  ]);
  const backends = {
    registry: withCachedBlobs(registryBackend, cacheSize),
    proxy: withCachedBlobs(proxyBackend, cacheSize),
  };
  // A blob file that disagrees with the index is damage to stored data: said loudly, counted.
  const integrity =
    (store: 'registry' | 'proxy'): IntegrityReporter =>
    (failure) => {
      logger.error({ store, digest: failure.digest, path: failure.location, expected: failure.expected, actual: failure.actual ?? null }, 'blob file does not match the index: answered as unknown');
      metrics?.integrityFailure(store);
    };
  const registry = createRegistry({
    index,
    browse: indexes.browse,
    onPullRecordError: (err) => logger.warn({ err }, 'could not record a repository\'s last pull time (the pull was served)'),
    storage: backends.registry,
    clock,
    limits: { maxManifestSize: config.limits.max_manifest_size, maxListPage: config.limits.max_list_page, maxBlobSize: config.limits.max_blob_size },
    integrity: integrity('registry'),
    uploadClaim: { ttlMs: config.cluster.upload_claim_ttl, holderPrefix: replica },
    // Another replica's push must be seen at once on a shared index: no per-process memory of tags and links there.
    ...(indexes.shared ? { mutableCacheMs: 0 } : {}),
  });

  const sources = new Sources(config.proxy, new Upstreams(config.proxy));
  const proxyIndex = indexes.proxy;
  const proxyContent = backends.proxy.blobs;
  const client = new UpstreamClient(new TokenCache(clock), logger, metrics);
  const health = new MemberHealth(clock, config.proxy.backoff);
  const requester = new SourceRequester(client, health, logger, metrics);
  // The proxy's hits and misses, counted for the UI's proxy page and passed on to the metrics.
  const activity = new UpstreamActivity(metrics);
  // Every process on one index coordinates its proxy downloads through leases in it.
  const identity = new PeerIdentity(config.cluster.replica, config.cluster.advertise_url);
  const peerAuth = new PeerAuth(indexes.secrets, clock);
  const cluster = {
    lease: { leases: indexes.leases, clock, logger, holder: identity.holder, holderUrl: () => identity.url(), ttlMs: config.cluster.download_lease_ttl, renewMs: config.cluster.download_lease_renew },
    auth: peerAuth,
    retryDelayMs: Math.max(100, Math.floor(config.cluster.download_lease_renew / 3)),
    ...(metrics ? { metrics } : {}),
  };
  const fetcher = new BlobFetcher(requester, proxyContent, proxyIndex, clock, logger, config.temporary_registry_storage, metrics, cluster, warmPace(config.proxy.warm.bandwidth), v8HeapHeadroom);
  const proxy = new PullThrough({
    sources,
    requester,
    fetcher,
    index: proxyIndex,
    content: proxyContent,
    clock,
    logger,
    maxManifestSize: config.limits.max_manifest_size,
    integrity: integrity('proxy'),
    metrics: activity,
  });
  const upstreams = new UpstreamStatus(config.proxy, sources, health, activity);
  const status = new ServerStatus({
    version: packageVersion(),
    replica,
    database: describeIndex(config.index),
    locations: { registry: config.registry_storage, proxy: config.proxy_storage },
    stats,
    lastGcRun: () => readLastRun(indexes.lastGcRun),
    clock,
  });

  const peer = { identity, downloads: new PeerDownloads(fetcher, peerAuth) };
  const warmer = new Warmer({ proxy, logger, concurrency: config.proxy.warm.concurrency, ...(metrics ? { metrics } : {}) });
  const sync = new SyncScheduler({ entries: config.proxy.sync, proxy, warmer, clock, logger, lease: cluster.lease, ...(metrics ? { metrics } : {}) });
  let auth: AppAuth | undefined;
  try {
    auth = await createAuth(config, clock, logger, indexes.shared ? indexes.secrets : undefined);
  } catch (err) {
    // Nothing is served: the backends' workers and connections go (the index is the caller's).
    await Promise.allSettled([backends.registry.close(), backends.proxy.close()]);
    throw err;
  }
  return { registry, proxy, proxyBrowse: new ProxyBrowseService(indexes.proxyBrowse, config.limits.max_list_page), mirror: new Mirror(config.mirror, sources), warmer, sync, auth, stats, metrics, indexes, peer, backends, upstreams, status };
}
