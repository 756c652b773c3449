/**
 * Which repositories of an upstream a cached blob may be served to. The blob file and its
 * proxy_blobs row are shared by every repository (one file per digest); a repository sees
 * the blob only when the upstream showed it has it there:
 *   - a row here: Keel fetched the blob for that repository, or the upstream answered a HEAD
 *     of the blob in that repository;
 *   - or a cached manifest of that repository references it (proxy_manifest_references,
 *     looked up through the index below).
 * A row goes with its blob (ON DELETE CASCADE), so proxy GC removes both together.
 */
export const up = `
CREATE TABLE proxy_blob_repositories (
  upstream    TEXT NOT NULL,
  repository  TEXT NOT NULL,
  digest      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (upstream, repository, digest),
  FOREIGN KEY (upstream, digest) REFERENCES proxy_blobs(upstream, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX proxy_blob_repositories_by_blob ON proxy_blob_repositories(upstream, digest);

CREATE INDEX proxy_manifest_references_by_repository_child ON proxy_manifest_references(upstream, repository, child_digest);
`;
