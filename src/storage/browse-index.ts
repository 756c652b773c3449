/**
 * What the repository listings of the web UI and /api/v1/repositories read: per-repository
 * figures the index keeps as rows change (migration 010), paged by keyset so a page costs the
 * same on the first as on the thousandth, whatever the number of repositories. Local registry
 * here; the pull-through cache's in proxy-browse-index.ts.
 */
import type { Digest, RepoName } from '../primitives/types.js';

export type RepositorySort = 'name' | 'pushed' | 'pulled' | 'size';
export type SortOrder = 'asc' | 'desc';

/**
 * Where a page starts: after the row whose sort value and name are these (exclusive).
 * `value` is the figure sorted by (epoch ms, bytes); unused when sorting by name.
 */
export interface RepositoryKey {
  value: number;
  name: string;
}

export interface RepositoryQuery {
  /** Case-insensitive (ASCII) substring of the name; empty or absent: every repository. */
  q?: string;
  sort: RepositorySort;
  order: SortOrder;
  after?: RepositoryKey;
  limit: number;
}

export interface RepositorySummary {
  name: RepoName;
  manifests: number;
  tags: number;
  /** Sizes of the blobs linked to the repository (each digest once) plus its manifests'. */
  bytes: number;
  /** Epoch ms of the last manifest write or tag move; 0: never. */
  pushedAt: number;
  /** Epoch ms of the last recorded manifest GET/HEAD (coalesced to one write a minute); 0: never. */
  pulledAt: number;
}

export type TagSort = 'date' | 'name';

export interface TagKey {
  /** updated_at when sorting by date; unused by name. */
  value: number;
  name: string;
}

export interface TagQuery {
  sort: TagSort;
  order: SortOrder;
  after?: TagKey;
  limit: number;
}

export interface TagSummary {
  tag: string;
  digest: Digest;
  mediaType: string;
  /** When the tag was last pointed at its manifest (epoch ms). */
  pushedAt: number;
  /** The manifest's own size. */
  manifestBytes: number;
  /**
   * The image: the manifest, and every manifest and blob it references, each digest once
   * (an index: itself, its child manifests and all their configs and layers).
   */
  imageBytes: number;
}

export interface BrowseIndex {
  /** Repositories holding at least one manifest, matching `q`, in the order asked, after `after`. */
  listRepositories(query: RepositoryQuery): Promise<RepositorySummary[]>;
  /** One repository's figures (undefined when it holds no manifest). */
  repositorySummary(repo: RepoName): Promise<RepositorySummary | undefined>;
  /** A page of the repository's tags (empty for an unknown repository). */
  listTags(repo: RepoName, query: TagQuery): Promise<TagSummary[]>;
  /** Sets the repositories' last pull to `at` unless a later one is recorded (one write for all). */
  recordPulls(pulls: ReadonlyMap<RepoName, number>): Promise<void>;
}
