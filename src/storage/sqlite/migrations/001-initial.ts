/** The first schema. Content is global (blobs); what a repository may see is a link row. */
export const up = `
CREATE TABLE repositories (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL
);

CREATE TABLE blobs (
  digest      TEXT PRIMARY KEY,
  size        INTEGER NOT NULL,
  created_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- A blob a repository may see: pushed to it, mounted into it, or manifest content.
CREATE TABLE repository_blobs (
  repository_id INTEGER NOT NULL REFERENCES repositories(id),
  digest        TEXT NOT NULL REFERENCES blobs(digest),
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (repository_id, digest)
) WITHOUT ROWID;
CREATE INDEX repository_blobs_by_digest ON repository_blobs(digest);

CREATE TABLE manifests (
  repository_id INTEGER NOT NULL REFERENCES repositories(id),
  digest        TEXT NOT NULL REFERENCES blobs(digest),
  media_type    TEXT NOT NULL,
  size          INTEGER NOT NULL,
  artifact_type TEXT,
  subject       TEXT,
  annotations   TEXT,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (repository_id, digest)
) WITHOUT ROWID;
CREATE INDEX manifests_by_subject ON manifests(repository_id, subject) WHERE subject IS NOT NULL;

-- Every blob (config, layer) and child manifest a manifest references: what GC marks from.
CREATE TABLE manifest_references (
  repository_id   INTEGER NOT NULL,
  manifest_digest TEXT NOT NULL,
  child_digest    TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
  PRIMARY KEY (repository_id, manifest_digest, child_digest, kind),
  FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX manifest_references_by_child ON manifest_references(child_digest);

CREATE TABLE tags (
  repository_id INTEGER NOT NULL,
  name          TEXT NOT NULL,
  digest        TEXT NOT NULL,
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (repository_id, name),
  FOREIGN KEY (repository_id, digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE uploads (
  id          TEXT PRIMARY KEY,
  repository  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
`;
