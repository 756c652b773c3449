/**
 * What the web UI and /api/v1/repositories list (issue 21), kept as rows change so that a page
 * of 100,000 repositories sorted by any figure is an index range scan, never an aggregate:
 *   - repositories gain manifest_count, tag_count, bytes, pushed_at and pulled_at (0 = never).
 *     bytes is the sizes of the blobs linked to the repository (pushed or mounted into it,
 *     each digest once: repository_blobs' key) plus the sizes of its manifests. pushed_at is
 *     the latest manifest write or tag move; pulled_at is written by the registry (coalesced,
 *     browse-pulls.ts), not by a trigger. Each sort has an index ending in the name, the
 *     keyset's tie-break;
 *   - proxy_repository_stats: per upstream and repository of the pull-through cache, the
 *     cached manifests and tags, bytes (cached manifests plus the cached blobs known to be in
 *     the repository upstream: proxy_blob_repositories; a layer two repositories share counts
 *     in both, though the store holds it once) and last_read (the latest last_access a read
 *     wrote on a manifest or tag of it);
 *   - tags_by_date: a repository's tags newest first, paged.
 * A proxy blob's rows in proxy_blob_repositories are deleted by a trigger before the blob row
 * itself, so their own trigger still finds the blob's size (a cascade would run after it went).
 */

/** Sets the figures from the tables themselves (the migration's start; a bulk load that bypassed the triggers). */
export const RECOUNT_BROWSE_FIGURES = `
UPDATE repositories SET
  manifest_count = (SELECT COUNT(*) FROM manifests m WHERE m.repository_id = repositories.id),
  tag_count = (SELECT COUNT(*) FROM tags t WHERE t.repository_id = repositories.id),
  bytes = (SELECT COALESCE(SUM(b.size), 0) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repository_id = repositories.id)
        + (SELECT COALESCE(SUM(m.size), 0) FROM manifests m WHERE m.repository_id = repositories.id),
  pushed_at = MAX(pushed_at,
                  (SELECT COALESCE(MAX(m.created_at), 0) FROM manifests m WHERE m.repository_id = repositories.id),
                  (SELECT COALESCE(MAX(t.updated_at), 0) FROM tags t WHERE t.repository_id = repositories.id));
DELETE FROM proxy_repository_stats;
INSERT INTO proxy_repository_stats (upstream, repository, manifest_count, tag_count, bytes, last_read)
SELECT upstream, repository, SUM(manifests), SUM(tags), SUM(bytes), MAX(last_read) FROM (
  SELECT upstream, repository, COUNT(*) AS manifests, 0 AS tags, SUM(size) AS bytes, MAX(last_access) AS last_read FROM proxy_manifests GROUP BY upstream, repository
  UNION ALL
  SELECT upstream, repository, 0, COUNT(*), 0, MAX(last_access) FROM proxy_tags GROUP BY upstream, repository
  UNION ALL
  SELECT pbr.upstream, pbr.repository, 0, 0, SUM(pb.size), 0 FROM proxy_blob_repositories pbr
    JOIN proxy_blobs pb ON pb.upstream = pbr.upstream AND pb.digest = pbr.digest GROUP BY pbr.upstream, pbr.repository
) GROUP BY upstream, repository;
`;

/** The triggers alone (bench-scale's fill drops and re-creates them around its bulk load). */
const BROWSE_TRIGGERS = `
CREATE TRIGGER browse_manifest_insert AFTER INSERT ON manifests BEGIN
  UPDATE repositories SET manifest_count = manifest_count + 1, bytes = bytes + NEW.size, pushed_at = MAX(pushed_at, NEW.created_at)
  WHERE id = NEW.repository_id;
END;
CREATE TRIGGER browse_manifest_delete AFTER DELETE ON manifests BEGIN
  UPDATE repositories SET manifest_count = manifest_count - 1, bytes = bytes - OLD.size WHERE id = OLD.repository_id;
END;
CREATE TRIGGER browse_tag_insert AFTER INSERT ON tags BEGIN
  UPDATE repositories SET tag_count = tag_count + 1, pushed_at = MAX(pushed_at, NEW.updated_at) WHERE id = NEW.repository_id;
END;
CREATE TRIGGER browse_tag_update AFTER UPDATE OF updated_at ON tags BEGIN
  UPDATE repositories SET pushed_at = MAX(pushed_at, NEW.updated_at) WHERE id = NEW.repository_id;
END;
CREATE TRIGGER browse_tag_delete AFTER DELETE ON tags BEGIN
  UPDATE repositories SET tag_count = tag_count - 1 WHERE id = OLD.repository_id;
END;
CREATE TRIGGER browse_link_insert AFTER INSERT ON repository_blobs BEGIN
  UPDATE repositories SET bytes = bytes + COALESCE((SELECT size FROM blobs WHERE digest = NEW.digest), 0) WHERE id = NEW.repository_id;
END;
CREATE TRIGGER browse_link_delete AFTER DELETE ON repository_blobs BEGIN
  UPDATE repositories SET bytes = bytes - COALESCE((SELECT size FROM blobs WHERE digest = OLD.digest), 0) WHERE id = OLD.repository_id;
END;

CREATE TRIGGER browse_proxy_manifest_insert AFTER INSERT ON proxy_manifests BEGIN
  INSERT INTO proxy_repository_stats (upstream, repository) VALUES (NEW.upstream, NEW.repository) ON CONFLICT DO NOTHING;
  UPDATE proxy_repository_stats SET manifest_count = manifest_count + 1, bytes = bytes + NEW.size, last_read = MAX(last_read, NEW.last_access)
  WHERE upstream = NEW.upstream AND repository = NEW.repository;
END;
CREATE TRIGGER browse_proxy_manifest_read AFTER UPDATE OF last_access ON proxy_manifests WHEN NEW.last_access > OLD.last_access BEGIN
  UPDATE proxy_repository_stats SET last_read = MAX(last_read, NEW.last_access) WHERE upstream = NEW.upstream AND repository = NEW.repository;
END;
CREATE TRIGGER browse_proxy_manifest_delete AFTER DELETE ON proxy_manifests BEGIN
  UPDATE proxy_repository_stats SET manifest_count = manifest_count - 1, bytes = bytes - OLD.size WHERE upstream = OLD.upstream AND repository = OLD.repository;
END;
CREATE TRIGGER browse_proxy_tag_insert AFTER INSERT ON proxy_tags BEGIN
  INSERT INTO proxy_repository_stats (upstream, repository) VALUES (NEW.upstream, NEW.repository) ON CONFLICT DO NOTHING;
  UPDATE proxy_repository_stats SET tag_count = tag_count + 1, last_read = MAX(last_read, NEW.last_access)
  WHERE upstream = NEW.upstream AND repository = NEW.repository;
END;
CREATE TRIGGER browse_proxy_tag_read AFTER UPDATE OF last_access ON proxy_tags WHEN NEW.last_access > OLD.last_access BEGIN
  UPDATE proxy_repository_stats SET last_read = MAX(last_read, NEW.last_access) WHERE upstream = NEW.upstream AND repository = NEW.repository;
END;
CREATE TRIGGER browse_proxy_tag_delete AFTER DELETE ON proxy_tags BEGIN
  UPDATE proxy_repository_stats SET tag_count = tag_count - 1 WHERE upstream = OLD.upstream AND repository = OLD.repository;
END;
CREATE TRIGGER browse_proxy_link_insert AFTER INSERT ON proxy_blob_repositories BEGIN
  INSERT INTO proxy_repository_stats (upstream, repository) VALUES (NEW.upstream, NEW.repository) ON CONFLICT DO NOTHING;
  UPDATE proxy_repository_stats SET bytes = bytes + COALESCE((SELECT size FROM proxy_blobs WHERE upstream = NEW.upstream AND digest = NEW.digest), 0)
  WHERE upstream = NEW.upstream AND repository = NEW.repository;
END;
CREATE TRIGGER browse_proxy_link_delete AFTER DELETE ON proxy_blob_repositories BEGIN
  UPDATE proxy_repository_stats SET bytes = bytes - COALESCE((SELECT size FROM proxy_blobs WHERE upstream = OLD.upstream AND digest = OLD.digest), 0)
  WHERE upstream = OLD.upstream AND repository = OLD.repository;
END;
CREATE TRIGGER browse_proxy_blob_delete BEFORE DELETE ON proxy_blobs BEGIN
  DELETE FROM proxy_blob_repositories WHERE upstream = OLD.upstream AND digest = OLD.digest;
END;
`;

export const up = `
ALTER TABLE repositories ADD COLUMN manifest_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN tag_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN pushed_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN pulled_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX repositories_by_pushed ON repositories(pushed_at, name);
CREATE INDEX repositories_by_pulled ON repositories(pulled_at, name);
CREATE INDEX repositories_by_bytes ON repositories(bytes, name);
CREATE INDEX tags_by_date ON tags(repository_id, updated_at, name);

CREATE TABLE proxy_repository_stats (
  upstream        TEXT NOT NULL,
  repository      TEXT NOT NULL,
  manifest_count  INTEGER NOT NULL DEFAULT 0,
  tag_count       INTEGER NOT NULL DEFAULT 0,
  bytes           INTEGER NOT NULL DEFAULT 0,
  last_read       INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (upstream, repository)
) WITHOUT ROWID;
CREATE INDEX proxy_repository_stats_by_read ON proxy_repository_stats(last_read, upstream, repository);
CREATE INDEX proxy_repository_stats_by_bytes ON proxy_repository_stats(bytes, upstream, repository);
${RECOUNT_BROWSE_FIGURES}
${BROWSE_TRIGGERS}
`;
