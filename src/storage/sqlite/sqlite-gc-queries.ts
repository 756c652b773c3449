/**
 * The SQL of garbage collection, next to the schema it reads: SqliteGcIndex, the SQLite
 * implementation of GcIndex (gc-index.ts). Reads take one read transaction each (a snapshot;
 * a dry run opens the database read-only and writes nothing). Every deleting statement
 * re-states its condition, so a row that became referenced between GC's look and its delete
 * is left alone; each batch is one BEGIN IMMEDIATE transaction (the write lock is taken
 * before the first read, so a batch never fails half-way on a lock that moved).
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type {
  GcIndex,
  LinkRow,
  ManifestEdge,
  ManifestKey,
  ManifestNode,
  ProxyBlobKey,
  ProxyGraphVisitor,
  ProxyManifestKey,
  ProxyTagKey,
  RegistryCandidates,
  RegistryGraph,
} from '../gc-index.js';
import { splitUnheld, type UnheldBlob } from '../gc-candidates.js';
import type { LastGcRunStore } from '../last-gc-run.js';
import { openDatabase } from './sqlite-index.js';
import { FileLastGcRun } from './sqlite-last-gc-run.js';
import { readOnWorker } from './read-worker.js';
import { MAX_RETRY_STEP_MS } from './sqlite-writer.js';

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

/** No manifest holds the blob `b`: neither as its content nor as a blob reference. */
const UNHELD_BLOB = `
  NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = b.digest AND mr.kind = 'blob')
  AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)`;

/**
 * registryCandidates' queries, each one scan with index lookups per row (see EXPLAIN QUERY
 * PLAN), run together on a worker thread (read-worker.ts).
 */
const CANDIDATES = {
  links: `SELECT rb.repository_id, rb.digest, r.name AS repository, b.size FROM repository_blobs AS rb
         JOIN repositories r ON r.id = rb.repository_id LEFT JOIN blobs b ON b.digest = rb.digest
       WHERE ${UNREFERENCED_LINK}`,
  repositories: `SELECT r.id, r.name FROM repositories r WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
         AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.repository_id = r.id AND rb.created_at >= @cutoff)`,
  unheld: `SELECT b.digest, b.size, b.created_at,
              EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest AND rb.created_at >= @cutoff) AS young_link
       FROM blobs AS b WHERE ${UNHELD_BLOB}`,
};

interface CandidateRows {
  links: Array<{ repository_id: number; digest: string; repository: string; size: number | null }>;
  repositories: Array<{ id: number; name: string }>;
  unheld: UnheldBlob[];
}

function statements(db: Database.Database) {
  return {
    // --- untagged manifests (--delete-untagged)
    manifests: db.prepare<[], ManifestNode>('SELECT repository_id, digest, subject, created_at, size FROM manifests'),
    tagged: db.prepare<[], { repository_id: number; digest: string }>('SELECT DISTINCT repository_id, digest FROM tags'),
    references: db.prepare<[], ManifestEdge>('SELECT repository_id, manifest_digest, child_digest, kind FROM manifest_references'),
    repositories: db.prepare<[], { id: number; name: string }>('SELECT id, name FROM repositories'),
    links: db.prepare<[], LinkRow>('SELECT repository_id, digest, created_at FROM repository_blobs'),
    blobs: db.prepare<[], { digest: string; size: number; created_at: number }>('SELECT digest, size, created_at FROM blobs'),
    deleteUntaggedManifest: db.prepare<[number, string]>(
      'DELETE FROM manifests WHERE repository_id = ? AND digest = ? AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = manifests.repository_id AND t.digest = manifests.digest)',
    ),

    // --- repository links and blobs
    deleteLink: db.prepare<{ cutoff: number; repository_id: number; digest: string }>(
      `DELETE FROM repository_blobs AS rb WHERE rb.repository_id = @repository_id AND rb.digest = @digest AND ${UNREFERENCED_LINK}`,
    ),
    deleteBlob: db.prepare<{ cutoff: number; digest: string }>(`DELETE FROM blobs AS b WHERE b.digest = @digest AND ${UNREFERENCED_BLOB}`),
    blobKnown: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM blobs WHERE digest = ?'),

    // --- repositories left with nothing (no manifest, so no tag, and no blob link)
    deleteEmptyRepository: db.prepare<[number], { name: string }>(
      `DELETE FROM repositories AS r WHERE r.id = ? AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
         AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.repository_id = r.id) RETURNING name`,
    ),

    // --- upload sessions
    staleUploads: db.prepare<[number], { id: string; repository: string }>('SELECT id, repository FROM uploads WHERE updated_at < ?'),
    deleteUpload: db.prepare<[string, number]>('DELETE FROM uploads WHERE id = ? AND updated_at < ?'),
    uploadKnown: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM uploads WHERE id = ?'),

    // --- proxy cache
    proxyPins: db.prepare<[], { upstream: string; repository: string; reference: string }>('SELECT upstream, repository, reference FROM proxy_pins'),
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

type Statements = ReturnType<typeof statements>;

export interface SqliteGcIndexOptions {
  /** Open the database read-only (a dry run): nothing, not even a migration, is written. */
  readonly?: boolean;
}

export class SqliteGcIndex implements GcIndex {
  readonly batchPauseMs = MAX_RETRY_STEP_MS + 2;
  readonly lastRun: LastGcRunStore;
  private readonly q: Statements;

  /** GC's own connection: it may sleep on a busy lock (it is a process of its own); the server never does. */
  static open(path: string, options: SqliteGcIndexOptions = {}): SqliteGcIndex {
    const readonly = options.readonly === true;
    const db = readonly && existsSync(path) ? new Database(path, { readonly: true, fileMustExist: true }) : openDatabase(path);
    db.pragma('busy_timeout = 5000');
    // A dry run's connection refuses every write, however it was opened (a missing file is
    // created and migrated first, as for a real run).
    if (readonly) db.pragma('query_only = ON');
    return new SqliteGcIndex(db, { readonly });
  }

  constructor(
    private readonly db: Database.Database,
    options: SqliteGcIndexOptions = {},
  ) {
    this.q = statements(db);
    this.lastRun = new FileLastGcRun(db.name, { readonly: options.readonly === true || db.readonly });
  }

  /** Deletes over one batch as one IMMEDIATE transaction; returns the rows `deleted` did delete. */
  private batch<T>(rows: readonly T[], deleted: (row: T) => boolean): T[] {
    return this.db.transaction(() => rows.filter(deleted)).immediate();
  }

  /** Membership only: no transaction needed (a key added meanwhile is checked again at removal). */
  private known(keys: readonly string[], has: (key: string) => boolean): Set<string> {
    return new Set(keys.filter(has));
  }

  async registryGraph(): Promise<RegistryGraph> {
    const q = this.q;
    return this.db
      .transaction(() => ({
        repositories: q.repositories.all(),
        manifests: q.manifests.all(),
        tagged: q.tagged.all(),
        references: q.references.all(),
        links: q.links.all(),
        blobs: q.blobs.all(),
      }))
      .deferred();
  }

  /** On a worker thread (its own read-only connection) for a database file; in this thread for one in memory. */
  async registryCandidates(cutoff: number): Promise<RegistryCandidates> {
    const rows = (
      this.db.memory
        ? this.db.transaction(() => Object.fromEntries(Object.entries(CANDIDATES).map(([name, sql]) => [name, this.db.prepare(sql).all({ cutoff })]))).deferred()
        : await readOnWorker(this.db.name, CANDIDATES, { cutoff })
    ) as CandidateRows;
    return { ...splitUnheld(rows.unheld, cutoff), links: rows.links, repositories: rows.repositories };
  }

  async blobsKnown(digests: readonly string[]): Promise<Set<string>> {
    return this.known(digests, (d) => this.q.blobKnown.get(d) !== undefined);
  }

  async uploadsKnown(ids: readonly string[]): Promise<Set<string>> {
    return this.known(ids, (id) => this.q.uploadKnown.get(id) !== undefined);
  }

  async staleUploads(before: number): Promise<Array<{ id: string; repository: string }>> {
    return this.q.staleUploads.all(before);
  }

  async deleteUntaggedManifests<T extends ManifestKey>(batch: readonly T[]): Promise<T[]> {
    return this.batch(batch, (m) => this.q.deleteUntaggedManifest.run(m.repository_id, m.digest).changes > 0);
  }

  async deleteUnreferencedLinks<T extends ManifestKey>(batch: readonly T[], cutoff: number): Promise<T[]> {
    return this.batch(batch, (l) => this.q.deleteLink.run({ cutoff, repository_id: l.repository_id, digest: l.digest }).changes > 0);
  }

  async deleteEmptyRepositories(ids: readonly number[]): Promise<string[]> {
    return this.db.transaction(() => ids.flatMap((id) => this.q.deleteEmptyRepository.all(id).map((r) => r.name))).immediate();
  }

  async deleteUnreferencedBlobs(digests: readonly string[], cutoff: number): Promise<string[]> {
    return this.batch(digests, (digest) => this.q.deleteBlob.run({ cutoff, digest }).changes > 0);
  }

  async deleteStaleUploads(ids: readonly string[], before: number): Promise<string[]> {
    return this.batch(ids, (id) => this.q.deleteUpload.run(id, before).changes > 0);
  }

  async proxyGraph(visit: ProxyGraphVisitor): Promise<void> {
    const q = this.q;
    // Row by row (iterate), so a million rows are never one array.
    this.db
      .transaction(() => {
        for (const row of q.proxyPins.iterate()) visit.pin(row);
        for (const row of q.proxyTags.iterate()) visit.tag(row);
        for (const row of q.proxyManifests.iterate()) visit.manifest(row);
        for (const row of q.proxyBlobs.iterate()) visit.blob(row);
        for (const row of q.proxyReferences.iterate()) visit.reference(row);
      })
      .deferred();
  }

  async proxyContentKnown(digests: readonly string[]): Promise<Set<string>> {
    return this.known(digests, (d) => this.q.proxyContentKnown.get(d, d) !== undefined);
  }

  async deleteProxyTags<T extends ProxyTagKey>(batch: readonly T[]): Promise<T[]> {
    return this.batch(batch, (t) => this.q.deleteProxyTag.run(t.upstream, t.repository, t.tag, t.last_access).changes > 0);
  }

  async deleteProxyManifests<T extends ProxyManifestKey>(batch: readonly T[]): Promise<T[]> {
    return this.batch(batch, (m) => this.q.deleteProxyManifest.run(m.upstream, m.repository, m.digest, m.last_access).changes > 0);
  }

  async deleteProxyBlobs<T extends ProxyBlobKey>(batch: readonly T[]): Promise<T[]> {
    return this.batch(batch, (b) => this.q.deleteProxyBlob.run(b.upstream, b.digest, b.last_access).changes > 0);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
