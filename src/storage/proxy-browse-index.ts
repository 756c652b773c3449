/**
 * What the pull-through cache's listing (web UI, /api/v1/repositories?store=proxy) reads:
 * per upstream and repository, figures the index keeps by triggers (migration 010), paged by
 * keyset like the local registry's (browse-index.ts).
 */
import type { SortOrder } from './browse-index.js';

export type ProxyRepositorySort = 'name' | 'pulled' | 'size';

export interface ProxyRepositoryKey {
  /** The figure sorted by (epoch ms, bytes); unused by name. */
  value: number;
  upstream: string;
  repository: string;
}

export interface ProxyRepositoryQuery {
  /** Case-insensitive (ASCII) substring of `<upstream>/<repository>`. */
  q?: string;
  /** name: by upstream, then repository. */
  sort: ProxyRepositorySort;
  order: SortOrder;
  after?: ProxyRepositoryKey;
  limit: number;
}

export interface ProxyRepositorySummary {
  /** The upstream (or group) name the cache records it under. */
  upstream: string;
  /** The repository on the upstream. */
  repository: string;
  manifests: number;
  tags: number;
  /** Cached manifests plus the cached blobs known to be in the repository (a shared layer counts in each). */
  bytes: number;
  /** Epoch ms of the latest read of a manifest or tag of it; 0: never read since cached. */
  lastReadAt: number;
}

/** What the cache holds of one upstream or group. */
export interface ProxyUpstreamTotals {
  upstream: string;
  /** Repositories holding at least one cached manifest. */
  repositories: number;
  manifests: number;
  /** Blobs stored for it, and their bytes (each blob once, however many repositories share it). */
  blobs: number;
  bytes: number;
}

export interface ProxyBrowseIndex {
  /** Cached repositories holding at least one manifest, matching `q`, in the order asked, after `after`. */
  listProxyRepositories(query: ProxyRepositoryQuery): Promise<ProxyRepositorySummary[]>;
  /**
   * Per upstream with anything cached, by name. The blob figures read every proxy blob row
   * (an aggregate: for an operator's page, not for every request).
   */
  upstreamTotals(): Promise<ProxyUpstreamTotals[]>;
}
