/**
 * What Keel records about content, separate from the bytes themselves: repositories,
 * which blobs each repository may see, manifests and what they reference, tags and upload
 * sessions. Methods are async so that an index on another database (PostgreSQL for
 * several replicas) can implement the same interface; the SQLite one answers at once.
 */
import type { Digest, RepoName, Tag } from '../primitives/types.js';

export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType: string | null;
  subject: Digest | null;
  /** JSON text of the manifest's annotations, kept for the referrers API. */
  annotations: string | null;
}

export interface ManifestReference {
  digest: Digest;
  kind: 'blob' | 'manifest';
}

export interface UploadRecord {
  id: string;
  repository: RepoName;
  createdAt: number;
  updatedAt: number;
}

export interface RepositoryRemoval {
  manifests: number;
  tags: number;
  links: number;
}

export interface RegistryIndex {
  repositoryExists(repo: RepoName): Promise<boolean>;
  /** Names of repositories holding at least one manifest, in byte order after `after`, at most `limit`. */
  listRepositories(after: string | undefined, limit: number): Promise<string[]>;

  /** Size of a blob the repository may see, or undefined. */
  repositoryBlobSize(repo: RepoName, digest: Digest): Promise<number | undefined>;
  /** Size of stored content by digest, whichever repository has it. */
  blobSize(digest: Digest): Promise<number | undefined>;
  /** Records stored content and lets `repo` see it (one transaction). */
  linkBlob(repo: RepoName, digest: Digest, size: number, now: number): Promise<void>;
  unlinkBlob(repo: RepoName, digest: Digest): Promise<boolean>;
  /** Recorded sizes of those of `digests` that the repository may see as blobs. */
  repositoryBlobSizes(repo: RepoName, digests: Digest[]): Promise<Map<Digest, number>>;

  getManifest(repo: RepoName, digest: Digest): Promise<ManifestRecord | undefined>;
  /** Which of `digests` are manifests in the repository. */
  existingManifests(repo: RepoName, digests: Digest[]): Promise<Set<Digest>>;
  /**
   * Records a manifest, its references and optionally points a tag at it, in one transaction
   * that first re-checks every reference (a blob linked to the repository, a child manifest in
   * it), so a garbage collection running at the same time cannot remove one in between.
   * Returns the first missing reference, having written nothing, or undefined.
   */
  putManifest(repo: RepoName, manifest: ManifestRecord, references: ManifestReference[], tag: Tag | undefined, now: number): Promise<ManifestReference | undefined>;
  /** Removes a manifest, its references and every tag pointing at it. */
  deleteManifest(repo: RepoName, digest: Digest): Promise<boolean>;

  /**
   * Removes a repository as a whole, in one transaction: its tags, manifests (with their
   * references), blob links and the repository itself. Content rows stay for GC, which frees
   * what no other repository uses. Returns what went, or undefined for an unknown repository.
   */
  deleteRepository(repo: RepoName): Promise<RepositoryRemoval | undefined>;

  resolveTag(repo: RepoName, tag: Tag): Promise<ManifestRecord | undefined>;
  listTags(repo: RepoName, after: string | undefined, limit: number): Promise<string[]>;
  deleteTag(repo: RepoName, tag: Tag): Promise<boolean>;

  /** Manifests in the repository whose subject is `subject`. */
  referrers(repo: RepoName, subject: Digest): Promise<ManifestRecord[]>;

  createUpload(id: string, repo: RepoName, now: number): Promise<void>;
  getUpload(id: string): Promise<UploadRecord | undefined>;
  touchUpload(id: string, now: number): Promise<void>;
  /**
   * Claims the session for one writing request until `until` (epoch ms): true when nobody
   * else's unexpired claim holds it (one atomic step across every process on the index),
   * false when another request, here or on another replica, is writing to it. Claiming
   * again with the same `holder` extends the claim. False as well for an unknown session.
   */
  claimUpload(id: string, holder: string, until: number, now: number): Promise<boolean>;
  /** Lets go of the holder's claim (nothing when someone else holds it now). */
  releaseUpload(id: string, holder: string): Promise<void>;
  deleteUpload(id: string): Promise<void>;

  close(): void;
}
