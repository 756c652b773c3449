/**
 * What a large index needs (issue 19, `npm run bench:scale`):
 *   - indexes on the tag tables' references to manifests: deleting a manifest cascades to its
 *     tags, and without them SQLite read every tag of the repository (every tag of the upstream
 *     repository, in the proxy cache) for each manifest deleted; GC's --delete-untagged asks the
 *     same question;
 *   - store_totals: the byte and row counts /metrics shows, kept by triggers as rows come and go,
 *     instead of a SUM over every blob (and a GROUP BY over every proxy blob) at each scrape.
 *     The proxy store holds one file per digest, whatever upstreams cached it, so its bytes count
 *     a digest once: a row adds its size when no other proxy blob or manifest row names its
 *     digest, and takes it away when the last one goes (rows of one digest have one size).
 */
/** Sets the totals from the tables themselves (the migration's start; a bulk load that bypassed the triggers). */
export const RECOUNT_STORE_TOTALS = `
INSERT OR REPLACE INTO store_totals (name, value) VALUES
  ('registry_bytes', (SELECT COALESCE(SUM(size), 0) FROM blobs)),
  ('proxy_bytes', (SELECT COALESCE(SUM(size), 0) FROM (SELECT digest, MAX(size) AS size FROM proxy_blobs GROUP BY digest
                     UNION SELECT digest, MAX(size) FROM proxy_manifests GROUP BY digest))),
  ('uploads', (SELECT COUNT(*) FROM uploads));
`;

export const up = `
CREATE INDEX tags_by_manifest ON tags(repository_id, digest);
CREATE INDEX proxy_tags_by_manifest ON proxy_tags(upstream, repository, digest);

CREATE TABLE store_totals (
  name   TEXT PRIMARY KEY CHECK (name IN ('registry_bytes', 'proxy_bytes', 'uploads')),
  value  INTEGER NOT NULL
) WITHOUT ROWID;
${RECOUNT_STORE_TOTALS}
CREATE TRIGGER blobs_total_insert AFTER INSERT ON blobs BEGIN
  UPDATE store_totals SET value = value + NEW.size WHERE name = 'registry_bytes';
END;
CREATE TRIGGER blobs_total_delete AFTER DELETE ON blobs BEGIN
  UPDATE store_totals SET value = value - OLD.size WHERE name = 'registry_bytes';
END;

CREATE TRIGGER uploads_total_insert AFTER INSERT ON uploads BEGIN
  UPDATE store_totals SET value = value + 1 WHERE name = 'uploads';
END;
CREATE TRIGGER uploads_total_delete AFTER DELETE ON uploads BEGIN
  UPDATE store_totals SET value = value - 1 WHERE name = 'uploads';
END;

CREATE TRIGGER proxy_blobs_total_insert AFTER INSERT ON proxy_blobs
WHEN NOT EXISTS (SELECT 1 FROM proxy_blobs WHERE digest = NEW.digest AND upstream <> NEW.upstream)
 AND NOT EXISTS (SELECT 1 FROM proxy_manifests WHERE digest = NEW.digest) BEGIN
  UPDATE store_totals SET value = value + NEW.size WHERE name = 'proxy_bytes';
END;
CREATE TRIGGER proxy_blobs_total_delete AFTER DELETE ON proxy_blobs
WHEN NOT EXISTS (SELECT 1 FROM proxy_blobs WHERE digest = OLD.digest)
 AND NOT EXISTS (SELECT 1 FROM proxy_manifests WHERE digest = OLD.digest) BEGIN
  UPDATE store_totals SET value = value - OLD.size WHERE name = 'proxy_bytes';
END;
CREATE TRIGGER proxy_manifests_total_insert AFTER INSERT ON proxy_manifests
WHEN NOT EXISTS (SELECT 1 FROM proxy_manifests WHERE digest = NEW.digest AND (upstream <> NEW.upstream OR repository <> NEW.repository))
 AND NOT EXISTS (SELECT 1 FROM proxy_blobs WHERE digest = NEW.digest) BEGIN
  UPDATE store_totals SET value = value + NEW.size WHERE name = 'proxy_bytes';
END;
CREATE TRIGGER proxy_manifests_total_delete AFTER DELETE ON proxy_manifests
WHEN NOT EXISTS (SELECT 1 FROM proxy_manifests WHERE digest = OLD.digest)
 AND NOT EXISTS (SELECT 1 FROM proxy_blobs WHERE digest = OLD.digest) BEGIN
  UPDATE store_totals SET value = value - OLD.size WHERE name = 'proxy_bytes';
END;
`;
