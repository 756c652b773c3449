/**
 * What Keel records about the pull-through cache: cached manifests (with their references)
 * and blobs per upstream, the repositories a cached blob is known to be in upstream, and
 * tags with the time the upstream last confirmed them.
 */
import type { Digest } from '../primitives/types.js';
import type { ManifestReference } from './registry-index.js';

export interface CachedManifest {
  digest: Digest;
  mediaType: string;
  size: number;
}

export interface CachedTag extends CachedManifest {
  /** When the upstream last confirmed (or supplied) the tag's digest. */
  checkedAt: number;
}

export interface CachedBlob {
  size: number;
  /**
   * Whether the upstream showed the blob is in the repository asked about: Keel fetched it
   * for that repository, the upstream confirmed it there, or a cached manifest of that
   * repository references it. Only then may the cached copy be served to that repository.
   */
  inRepository: boolean;
}

export interface ProxyIndex {
  getTag(upstream: string, repo: string, tag: string): Promise<CachedTag | undefined>;
  /** Marks a tag as confirmed by the upstream now. */
  confirmTag(upstream: string, repo: string, tag: string, now: number): Promise<void>;
  /** Records a read of the tag (last access only). */
  touchTag(upstream: string, repo: string, tag: string, now: number): Promise<void>;
  listTags(upstream: string, repo: string): Promise<string[]>;
  deleteTag(upstream: string, repo: string, tag: string): Promise<void>;

  getManifest(upstream: string, repo: string, digest: Digest): Promise<CachedManifest | undefined>;
  /** Records a cached manifest and its references; with `tag`, points the tag at it (one transaction). */
  putManifest(upstream: string, repo: string, manifest: CachedManifest, references: ManifestReference[], tag: string | undefined, now: number): Promise<void>;
  touchManifest(upstream: string, repo: string, digest: Digest, now: number): Promise<void>;

  /** A blob cached from this upstream, and whether it is known to be in `repo` there (one lookup). */
  getBlob(upstream: string, repo: string, digest: Digest): Promise<CachedBlob | undefined>;
  /** Records a blob stored from this upstream and the repositories it was fetched for (one transaction). */
  putBlob(upstream: string, digest: Digest, size: number, repos: Iterable<string>, now: number): Promise<void>;
  /** Records that the upstream has a cached blob in `repo` too; nothing when the blob is not cached. */
  putBlobRepository(upstream: string, repo: string, digest: Digest, now: number): Promise<void>;
  touchBlob(upstream: string, digest: Digest, now: number): Promise<void>;

  /** Pins (or unpins) an image by tag or manifest digest: cache retention never evicts a pinned one. */
  setPin(upstream: string, repo: string, reference: string, pinned: boolean, now: number): Promise<void>;
  /** Every pin, by upstream, repository and reference. */
  listPins(): Promise<ProxyPin[]>;
}

export interface ProxyPin {
  upstream: string;
  repository: string;
  /** A tag or a manifest digest. */
  reference: string;
  pinnedAt: number;
}
