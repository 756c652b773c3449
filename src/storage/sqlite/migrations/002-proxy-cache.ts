/**
 * The pull-through cache's records, apart from the local registry's: every cached object
 * keeps its upstream and last access time (for GC and cache retention).
 */
export const up = `
CREATE TABLE proxy_blobs (
  upstream    TEXT NOT NULL,
  digest      TEXT NOT NULL,
  size        INTEGER NOT NULL,
  fetched_at  INTEGER NOT NULL,
  last_access INTEGER NOT NULL,
  PRIMARY KEY (upstream, digest)
) WITHOUT ROWID;
CREATE INDEX proxy_blobs_by_digest ON proxy_blobs(digest);

CREATE TABLE proxy_manifests (
  upstream    TEXT NOT NULL,
  repository  TEXT NOT NULL,
  digest      TEXT NOT NULL,
  media_type  TEXT NOT NULL,
  size        INTEGER NOT NULL,
  fetched_at  INTEGER NOT NULL,
  last_access INTEGER NOT NULL,
  PRIMARY KEY (upstream, repository, digest)
) WITHOUT ROWID;
CREATE INDEX proxy_manifests_by_digest ON proxy_manifests(digest);

CREATE TABLE proxy_manifest_references (
  upstream        TEXT NOT NULL,
  repository      TEXT NOT NULL,
  manifest_digest TEXT NOT NULL,
  child_digest    TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
  PRIMARY KEY (upstream, repository, manifest_digest, child_digest, kind),
  FOREIGN KEY (upstream, repository, manifest_digest) REFERENCES proxy_manifests(upstream, repository, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX proxy_manifest_references_by_child ON proxy_manifest_references(child_digest);

-- checked_at: when the upstream last confirmed (or supplied) this tag's digest; the tag TTL runs from it.
CREATE TABLE proxy_tags (
  upstream    TEXT NOT NULL,
  repository  TEXT NOT NULL,
  tag         TEXT NOT NULL,
  digest      TEXT NOT NULL,
  checked_at  INTEGER NOT NULL,
  last_access INTEGER NOT NULL,
  PRIMARY KEY (upstream, repository, tag),
  FOREIGN KEY (upstream, repository, digest) REFERENCES proxy_manifests(upstream, repository, digest) ON DELETE CASCADE
) WITHOUT ROWID;
`;
