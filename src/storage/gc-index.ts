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

/**
 * What the default collection (no --delete-untagged) deletes from the local registry, found by
 * indexed queries in one read transaction: only the candidates come back, never every row.
 * The conditions are those of the deletes (a real run applies them in this order, each delete
 * re-stating its own), taken as if the earlier steps had run:
 *   - links older than the cutoff that no manifest of their repository references (or is);
 *   - repositories with no manifest and no link younger than the cutoff (every other link
 *     of such a repository is one of the links above);
 *   - blobs older than the cutoff that no manifest holds (as content or a blob reference) and
 *     no link younger than the cutoff names.
 */
export interface RegistryCandidates {
  links: Array<ManifestKey & { repository: string; size: number | null }>;
  repositories: Array<{ id: number; name: string }>;
  blobs: BlobRow[];
  /** Blobs no manifest holds that the cutoff keeps (young, or named by a young link), and their bytes. */
  keptByGrace: { blobs: number; bytes: number };
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

/** A pinned image (proxy_pins): a tag or a manifest digest retention never evicts. */
export interface ProxyPinRow {
  upstream: string;
  repository: string;
  reference: string;
}

export interface ProxyReferenceRow {
  upstream: string;
  repository: string;
  manifest_digest: string;
  child_digest: string;
  kind: string;
}

/**
 * Everything proxy cache retention reads, handed over one row at a time from one read
 * snapshot, in this order: every pin, every tag, every manifest, every blob, then every reference. The
 * caller keeps what it needs (proxy-gc.ts keeps numbers, not the rows).
 */
export interface ProxyGraphVisitor {
  pin(row: ProxyPinRow): void;
  tag(row: ProxyTagRow): void;
  manifest(row: ProxyManifestRow): void;
  blob(row: ProxyBlobRow): void;
  reference(row: ProxyReferenceRow): void;
}

export interface GcIndex {
  /**
   * How long GC waits between two write batches on the live index, so a server write waiting
   * for the lock always gets its turn before the next batch.
   */
  readonly batchPauseMs: number;

  // --- local registry
  /** Every row of the mark phase: for --delete-untagged, whose fixed point is planned in memory. */
  registryGraph(): Promise<RegistryGraph>;
  /** What a collection without --delete-untagged deletes, as of `cutoff` (RegistryCandidates). */
  registryCandidates(cutoff: number): Promise<RegistryCandidates>;
  /** Which of `digests` have a blob row. */
  blobsKnown(digests: readonly string[]): Promise<Set<string>>;
  /** Which of `ids` are upload sessions the index knows. */
  uploadsKnown(ids: readonly string[]): Promise<Set<string>>;
  /** Upload sessions untouched since before `before`. */
  staleUploads(before: number): Promise<Array<{ id: string; repository: string }>>;
  /** Deletes manifests that are still untagged; returns those of `batch` it deleted. */
  deleteUntaggedManifests<T extends ManifestKey>(batch: readonly T[]): Promise<T[]>;
  /** Deletes links older than `cutoff` that no manifest of their repository references (or is); returns those of `batch` it deleted. */
  deleteUnreferencedLinks<T extends ManifestKey>(batch: readonly T[], cutoff: number): Promise<T[]>;
  /** Deletes repositories still without a manifest and a link; returns the names deleted. */
  deleteEmptyRepositories(ids: readonly number[]): Promise<string[]>;
  /** Deletes blobs older than `cutoff` that no link, manifest reference or manifest holds. */
  deleteUnreferencedBlobs(digests: readonly string[], cutoff: number): Promise<string[]>;
  /** Deletes upload sessions still untouched since before `before`. */
  deleteStaleUploads(ids: readonly string[], before: number): Promise<string[]>;

  // --- proxy cache
  proxyGraph(visit: ProxyGraphVisitor): Promise<void>;
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
