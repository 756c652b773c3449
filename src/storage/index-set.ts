/**
 * Everything Keel keeps in its index, whichever database holds it (SQLite on local disk,
 * PostgreSQL for several replicas): built by indexes.ts, the one switch point.
 */
import type { BrowseIndex } from './browse-index.js';
import type { DownloadLeases } from './download-leases.js';
import type { LastGcRunStore } from './last-gc-run.js';
import type { ProxyBrowseIndex } from './proxy-browse-index.js';
import type { ProxyIndex } from './proxy-index.js';
import type { RegistryIndex } from './registry-index.js';
import type { SharedSecrets } from './shared-secrets.js';
import type { StoreStats } from './store-stats.js';

export interface IndexSet {
  kind: 'sqlite' | 'postgres';
  /**
   * Whether other hosts write this index too (PostgreSQL). Then a per-process cache of
   * mutable answers (tags, links) would show a replica's change late on another, so such
   * caches are off; content-addressed caches stay.
   */
  shared: boolean;
  registry: RegistryIndex;
  proxy: ProxyIndex;
  /** The repository listings of the web UI and /api/v1/repositories (local registry, proxy cache). */
  browse: BrowseIndex;
  proxyBrowse: ProxyBrowseIndex;
  stats: StoreStats;
  leases: DownloadLeases;
  secrets: SharedSecrets;
  /** The last GC run's summary, for /metrics (GC writes it through its own GcIndex). */
  lastGcRun: LastGcRunStore;
  close(): Promise<void>;
}
