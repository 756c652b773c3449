/**
 * GC's view of the index, the contract every index backend implements (SQLite today:
 * sqlite-gc-queries.ts). Reads return snapshots GC plans from; nothing is written by them, so
 * a dry run is the plan alone. Each delete takes one batch (the caller picks its size and
 * pauses between batches, src/gc/batches.ts), runs as one write transaction, and re-states its
 * condition: a row that became referenced (or read, in the proxy cache) between GC's look and
 * its delete stays. Each returns what it did delete.
 */
import type { LastGcRunStore } from './last-gc-run.js';

/** A manifest row of the local registry. */
export interface ManifestNode {
  repository_id: number;
  digest: string;
  subject: string | null;
  created_at: number;
  size: number;
}

export interface ManifestKey {
  repository_id: number;
  digest: string;
}

export interface ManifestEdge {
  repository_id: number;
  manifest_digest: string;
  child_digest: string;
  kind: 'blob' | 'manifest';
}

export interface LinkRow {
  repository_id: number;
  digest: string;
  created_at: number;
}

export interface BlobRow {
  digest: string;
  size: number;
  created_at: number;
}

/** Everything the registry's mark phase reads, taken in one read transaction. */
export interface RegistryGraph {
  repositories: Array<{ id: number; name: string }>;
  manifests: ManifestNode[];
  /** (repository, digest) pairs some tag points at. */
  tagged: ManifestKey[];
  references: ManifestEdge[];
  links: LinkRow[];
  blobs: BlobRow[];
}

export interface ProxyTagRow {
  upstream: string;
  repository: string;
  tag: string;
  digest: string;
  checked_at: number;
  last_access: number;
}

export interface ProxyManifestRow {
  upstream: string;
  repository: string;
  digest: string;
  size: number;
  fetched_at: number;
  last_access: number;
}

export interface ProxyBlobRow {
  upstream: string;
  digest: string;
  size: number;
  fetched_at: number;
  last_access: number;
}

export type ProxyTagKey = Pick<ProxyTagRow, 'upstream' | 'repository' | 'tag' | 'last_access'>;
export type ProxyManifestKey = Pick<ProxyManifestRow, 'upstream' | 'repository' | 'digest' | 'last_access'>;
export type ProxyBlobKey = Pick<ProxyBlobRow, 'upstream' | 'digest' | 'last_access'>;

/** Everything proxy cache retention reads, taken in one read transaction. */
export interface ProxyGraph {
  tags: ProxyTagRow[];
  manifests: ProxyManifestRow[];
  references: Array<{ upstream: string; repository: string; manifest_digest: string; child_digest: string; kind: string }>;
  blobs: ProxyBlobRow[];
}

export interface GcIndex {
  /**
   * How long GC waits between two write batches on the live index, so a server write waiting
   * for the lock always gets its turn before the next batch.
   */
  readonly batchPauseMs: number;

  // --- local registry
  registryGraph(): Promise<RegistryGraph>;
  /** Which of `digests` have a blob row. */
  blobsKnown(digests: readonly string[]): Promise<Set<string>>;
  /** Which of `ids` are upload sessions the index knows. */
  uploadsKnown(ids: readonly string[]): Promise<Set<string>>;
  /** Upload sessions untouched since before `before`. */
  staleUploads(before: number): Promise<Array<{ id: string; repository: string }>>;
  /** Deletes manifests that are still untagged. */
  deleteUntaggedManifests(batch: readonly ManifestKey[]): Promise<ManifestKey[]>;
  /** Deletes links older than `cutoff` that no manifest of their repository references (or is). */
  deleteUnreferencedLinks(batch: readonly ManifestKey[], cutoff: number): Promise<ManifestKey[]>;
  /** Deletes repositories still without a manifest and a link; returns the names deleted. */
  deleteEmptyRepositories(ids: readonly number[]): Promise<string[]>;
  /** Deletes blobs older than `cutoff` that no link, manifest reference or manifest holds. */
  deleteUnreferencedBlobs(digests: readonly string[], cutoff: number): Promise<string[]>;
  /** Deletes upload sessions still untouched since before `before`. */
  deleteStaleUploads(ids: readonly string[], before: number): Promise<string[]>;

  // --- proxy cache
  proxyGraph(): Promise<ProxyGraph>;
  /** Which of `digests` some proxy blob or manifest row still names. */
  proxyContentKnown(digests: readonly string[]): Promise<Set<string>>;
  /** Each deletes its rows unless they were read after the `last_access` given; returns those deleted. */
  deleteProxyTags<T extends ProxyTagKey>(batch: readonly T[]): Promise<T[]>;
  deleteProxyManifests<T extends ProxyManifestKey>(batch: readonly T[]): Promise<T[]>;
  deleteProxyBlobs<T extends ProxyBlobKey>(batch: readonly T[]): Promise<T[]>;

  /** Where a completed run records its summary (for every server's /metrics). */
  readonly lastRun: LastGcRunStore;

  close(): Promise<void>;
}
