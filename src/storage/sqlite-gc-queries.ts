/**
 * The SQL of garbage collection, next to the schema it reads. Every deleting statement
 * re-states its condition, so a row that became referenced between GC's look and its
 * delete is left alone; each batch is one transaction.
 */
import type Database from 'better-sqlite3';

export interface SizedDigest {
  digest: string;
  size: number;
}

export interface ManifestNode {
  repository_id: number;
  digest: string;
  subject: string | null;
  created_at: number;
}

const UNREFERENCED_LINK = `
  rb.created_at < @cutoff
  AND NOT EXISTS (SELECT 1 FROM manifest_references mr
                  WHERE mr.repository_id = rb.repository_id AND mr.child_digest = rb.digest AND mr.kind = 'blob')
  AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = rb.repository_id AND m.digest = rb.digest)`;

const UNREFERENCED_BLOB = `
  b.created_at < @cutoff
  AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)
  AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = b.digest AND mr.kind = 'blob')
  AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)`;

export function gcQueries(db: Database.Database) {
  return {
    // --- untagged manifests (--delete-untagged)
    manifests: db.prepare<[], ManifestNode>('SELECT repository_id, digest, subject, created_at FROM manifests'),
    tagged: db.prepare<[], { repository_id: number; digest: string }>('SELECT DISTINCT repository_id, digest FROM tags'),
    childEdges: db.prepare<[], { repository_id: number; manifest_digest: string; child_digest: string }>(
      "SELECT repository_id, manifest_digest, child_digest FROM manifest_references WHERE kind = 'manifest'",
    ),
    manifestItem: db.prepare<[number, string], { name: string; size: number }>(
      'SELECT r.name, m.size FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE m.repository_id = ? AND m.digest = ?',
    ),
    deleteUntaggedManifest: db.prepare<[number, string]>(
      'DELETE FROM manifests WHERE repository_id = ? AND digest = ? AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = manifests.repository_id AND t.digest = manifests.digest)',
    ),

    // --- repository links and blobs
    unreferencedLinks: db.prepare<{ cutoff: number }, { repository_id: number; digest: string }>(
      `SELECT rb.repository_id, rb.digest FROM repository_blobs rb WHERE ${UNREFERENCED_LINK}`,
    ),
    deleteLink: db.prepare<{ cutoff: number; repository_id: number; digest: string }>(
      `DELETE FROM repository_blobs AS rb WHERE rb.repository_id = @repository_id AND rb.digest = @digest AND ${UNREFERENCED_LINK}`,
    ),
    linkItem: db.prepare<{ repository_id: number; digest: string }, { name: string; size: number | null }>(
      'SELECT r.name, b.size FROM repositories r LEFT JOIN blobs b ON b.digest = @digest WHERE r.id = @repository_id',
    ),
    unreferencedBlobs: db.prepare<{ cutoff: number }, SizedDigest>(`SELECT b.digest, b.size FROM blobs b WHERE ${UNREFERENCED_BLOB}`),
    deleteBlob: db.prepare<{ cutoff: number; digest: string }>(`DELETE FROM blobs AS b WHERE b.digest = @digest AND ${UNREFERENCED_BLOB}`),
    blobKnown: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM blobs WHERE digest = ?'),

    // --- repositories left with nothing (no manifest, so no tag, and no blob link)
    deleteEmptyRepositories: db.prepare<[], { name: string }>(
      `DELETE FROM repositories AS r WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
         AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.repository_id = r.id) RETURNING name`,
    ),

    // --- what only the grace period keeps, counted after the sweep: blobs no manifest
    // references and that are no manifest's content (a young row, or a young link to them)
    graceKeptBlobs: db.prepare<[], { blobs: number; bytes: number }>(
      `SELECT count(*) AS blobs, coalesce(sum(b.size), 0) AS bytes FROM blobs b
       WHERE NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = b.digest AND mr.kind = 'blob')
         AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)`,
    ),

    // --- upload sessions
    staleUploads: db.prepare<[number], { id: string; repository: string }>('SELECT id, repository FROM uploads WHERE updated_at < ?'),
    deleteUpload: db.prepare<[string, number]>('DELETE FROM uploads WHERE id = ? AND updated_at < ?'),
    uploadKnown: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM uploads WHERE id = ?'),

    // --- proxy cache
    proxyTags: db.prepare<[], { upstream: string; repository: string; tag: string; digest: string; checked_at: number; last_access: number }>(
      'SELECT upstream, repository, tag, digest, checked_at, last_access FROM proxy_tags',
    ),
    proxyManifests: db.prepare<[], { upstream: string; repository: string; digest: string; size: number; fetched_at: number; last_access: number }>(
      'SELECT upstream, repository, digest, size, fetched_at, last_access FROM proxy_manifests',
    ),
    proxyReferences: db.prepare<[], { upstream: string; repository: string; manifest_digest: string; child_digest: string; kind: string }>(
      'SELECT upstream, repository, manifest_digest, child_digest, kind FROM proxy_manifest_references',
    ),
    proxyBlobs: db.prepare<[], { upstream: string; digest: string; size: number; fetched_at: number; last_access: number }>(
      'SELECT upstream, digest, size, fetched_at, last_access FROM proxy_blobs',
    ),
    deleteProxyTag: db.prepare<[string, string, string, number]>(
      'DELETE FROM proxy_tags WHERE upstream = ? AND repository = ? AND tag = ? AND last_access <= ?',
    ),
    deleteProxyManifest: db.prepare<[string, string, string, number]>(
      'DELETE FROM proxy_manifests WHERE upstream = ? AND repository = ? AND digest = ? AND last_access <= ?',
    ),
    deleteProxyBlob: db.prepare<[string, string, number]>('DELETE FROM proxy_blobs WHERE upstream = ? AND digest = ? AND last_access <= ?'),
    proxyContentKnown: db.prepare<[string, string], { one: number }>(
      'SELECT 1 AS one FROM proxy_blobs WHERE digest = ? UNION ALL SELECT 1 FROM proxy_manifests WHERE digest = ? LIMIT 1',
    ),
  };
}

export type GcQueries = ReturnType<typeof gcQueries>;
