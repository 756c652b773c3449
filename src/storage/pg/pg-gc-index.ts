/**
 * GcIndex on PostgreSQL: the SQL of garbage collection for an index several replicas write
 * while GC runs (same semantics as sqlite/sqlite-gc-queries.ts).
 *
 * Reads: each graph is taken in one REPEATABLE READ READ ONLY transaction, so GC plans from
 * one snapshot. Membership checks (blobsKnown...) need none: a key added meanwhile is checked
 * again when its row is deleted.
 *
 * Deletes: each batch is one statement in one SERIALIZABLE transaction, retried whole on a
 * serialization failure or deadlock, and every statement re-states its condition. Why
 * SERIALIZABLE and not row locks: a manifest PUT (pg-registry-index.ts, SERIALIZABLE with
 * retry) reads the link rows it needs with plain SELECTs, then inserts its references. Row
 * locks taken by GC would not block those reads, and under READ COMMITTED or REPEATABLE READ
 * GC's NOT EXISTS would not see the PUT's uncommitted references: both would commit, leaving a
 * manifest whose layer link GC removed (write skew). With both sides SERIALIZABLE,
 * PostgreSQL's SSI sees the read-write dependencies in both directions (the PUT read the link
 * GC deletes; GC read the reference predicate the PUT writes) and aborts one of the two; the
 * retry re-runs with a fresh snapshot, so either GC now sees the reference and keeps the
 * link, or the PUT now misses the link and reports it (MANIFEST_BLOB_UNKNOWN). The same
 * holds for blobs (and their foreign keys: a referencing row committed meanwhile makes the
 * RI check fail with a serialization error under SERIALIZABLE, also retried) and the proxy
 * cache's last_access conditions.
 *
 * A dry run's connections start with default_transaction_read_only: nothing can be written.
 */
import type { Clock } from '../../primitives/clock.js';
import type {
  BlobRow,
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
import { splitUnheld } from '../gc-candidates.js';
import type { LastGcRunStore } from '../last-gc-run.js';
import { PgGcLastRun } from './pg-gc-last-run.js';
import { migratePg } from './pg-migrations.js';
import { PgPool, type PgQueries } from './pg-pool.js';

export interface PgGcIndexOptions {
  /** A dry run: every transaction of its connections is read-only. */
  readonly?: boolean;
  /** For the migration record (a real run brings the schema up to date, as a server start does). */
  clock: Clock;
}

/** A BIGINT column (the pool parses int8 into numbers). */
function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

type Row = Record<string, unknown>;

/**
 * The URL with default_transaction_read_only set at connection start (libpq's `options`
 * parameter, kept and extended when the operator's URL has one): every transaction on such a
 * connection is read-only, so a dry run cannot write even by mistake.
 */
function readOnlyUrl(url: string): string {
  const u = new URL(url);
  const existing = u.searchParams.get('options');
  u.searchParams.set('options', `${existing ? `${existing} ` : ''}-c default_transaction_read_only=on`);
  return u.toString();
}

function keyOf(...parts: Array<string | number>): string {
  return parts.join('\n');
}

/** The input rows whose keys `deleted` returned, in input order (callers keep their own objects). */
function deletedOf<T>(batch: readonly T[], key: (row: T) => string, deleted: Row[], rowKey: (row: Record<string, unknown>) => string): T[] {
  const gone = new Set(deleted.map(rowKey));
  return batch.filter((row) => gone.has(key(row)));
}

const UNREFERENCED_LINK = `
  rb.created_at < $3
  AND NOT EXISTS (SELECT 1 FROM manifest_references mr
                  WHERE mr.repository_id = rb.repository_id AND mr.child_digest = rb.digest AND mr.kind = 'blob')
  AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = rb.repository_id AND m.digest = rb.digest)`;

const UNREFERENCED_BLOB = `
  b.created_at < $2
  AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)
  AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = b.digest AND mr.kind = 'blob')
  AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)`;

/** No manifest holds the blob `b`: neither as its content nor as a blob reference. */
const UNHELD_BLOB = `
  NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = b.digest AND mr.kind = 'blob')
  AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)`;

const SQL = {
  candidateLinks: `
    SELECT rb.repository_id, rb.digest, r.name AS repository, b.size FROM repository_blobs rb
      JOIN repositories r ON r.id = rb.repository_id LEFT JOIN blobs b ON b.digest = rb.digest
    WHERE ${UNREFERENCED_LINK.replace('$3', '$1')}`,
  candidateRepositories: `
    SELECT r.id, r.name FROM repositories r WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
      AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.repository_id = r.id AND rb.created_at >= $1)`,
  unheldBlobs: `
    SELECT b.digest, b.size, b.created_at,
           EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest AND rb.created_at >= $1) AS young_link
    FROM blobs b WHERE ${UNHELD_BLOB}`,
  repositories: 'SELECT id, name FROM repositories',
  manifests: 'SELECT repository_id, digest, subject, created_at, size FROM manifests',
  tagged: 'SELECT DISTINCT repository_id, digest FROM tags',
  references: 'SELECT repository_id, manifest_digest, child_digest, kind FROM manifest_references',
  links: 'SELECT repository_id, digest, created_at FROM repository_blobs',
  blobs: 'SELECT digest, size, created_at FROM blobs',
  blobsKnown: 'SELECT digest FROM blobs WHERE digest = ANY($1::text[])',
  uploadsKnown: 'SELECT id FROM uploads WHERE id = ANY($1::text[])',
  staleUploads: 'SELECT id, repository FROM uploads WHERE updated_at < $1',
  deleteUntaggedManifests: `
    DELETE FROM manifests m USING unnest($1::bigint[], $2::text[]) AS k(repository_id, digest)
    WHERE m.repository_id = k.repository_id AND m.digest = k.digest
      AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
    RETURNING m.repository_id, m.digest`,
  deleteLinks: `
    DELETE FROM repository_blobs rb USING unnest($1::bigint[], $2::text[]) AS k(repository_id, digest)
    WHERE rb.repository_id = k.repository_id AND rb.digest = k.digest AND ${UNREFERENCED_LINK}
    RETURNING rb.repository_id, rb.digest`,
  deleteEmptyRepositories: `
    DELETE FROM repositories r WHERE r.id = ANY($1::bigint[])
      AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
      AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.repository_id = r.id)
    RETURNING r.id, r.name`,
  deleteBlobs: `DELETE FROM blobs b WHERE b.digest = ANY($1::text[]) AND ${UNREFERENCED_BLOB} RETURNING b.digest`,
  deleteUploads: 'DELETE FROM uploads WHERE id = ANY($1::text[]) AND updated_at < $2 RETURNING id',

  proxyPins: 'SELECT upstream, repository, reference FROM proxy_pins',
  proxyTags: 'SELECT upstream, repository, tag, digest, checked_at, last_access FROM proxy_tags',
  proxyManifests: 'SELECT upstream, repository, digest, size, fetched_at, last_access FROM proxy_manifests',
  proxyReferences: 'SELECT upstream, repository, manifest_digest, child_digest, kind FROM proxy_manifest_references',
  proxyBlobs: 'SELECT upstream, digest, size, fetched_at, last_access FROM proxy_blobs',
  proxyContentKnown: `
    SELECT DISTINCT digest FROM (SELECT digest FROM proxy_blobs WHERE digest = ANY($1::text[])
                                 UNION ALL SELECT digest FROM proxy_manifests WHERE digest = ANY($1::text[])) AS named`,
  deleteProxyTags: `
    DELETE FROM proxy_tags t USING unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS k(upstream, repository, tag, last_access)
    WHERE t.upstream = k.upstream AND t.repository = k.repository AND t.tag = k.tag AND t.last_access <= k.last_access
    RETURNING t.upstream, t.repository, t.tag`,
  deleteProxyManifests: `
    DELETE FROM proxy_manifests m USING unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS k(upstream, repository, digest, last_access)
    WHERE m.upstream = k.upstream AND m.repository = k.repository AND m.digest = k.digest AND m.last_access <= k.last_access
    RETURNING m.upstream, m.repository, m.digest`,
  deleteProxyBlobs: `
    DELETE FROM proxy_blobs b USING unnest($1::text[], $2::text[], $3::bigint[]) AS k(upstream, digest, last_access)
    WHERE b.upstream = k.upstream AND b.digest = k.digest AND b.last_access <= k.last_access
    RETURNING b.upstream, b.digest`,
} as const;

export class PgGcIndex implements GcIndex {
  /** No database-wide write lock to yield: row locks and SSI arbitrate each batch. */
  readonly batchPauseMs = 0;
  readonly lastRun: LastGcRunStore;

  /** GC's own small pool (it runs one statement at a time); a dry run's is read-only. */
  static async open(url: string, options: PgGcIndexOptions): Promise<PgGcIndex> {
    const db = new PgPool(options.readonly ? readOnlyUrl(url) : url, { max: 2 });
    try {
      // A GC run before any server of this version started still finds every table
      // (gc_last_run included); migrations take their own lock, so replicas starting meanwhile wait.
      if (!options.readonly) await migratePg(db, options.clock);
    } catch (err) {
      await db.end().catch(() => undefined);
      throw err;
    }
    return new PgGcIndex(db);
  }

  constructor(private readonly db: PgPool) {
    this.lastRun = new PgGcLastRun(db);
  }

  private rows(sql: string, params: Parameters<PgQueries['rows']>[1] = []): Promise<Row[]> {
    return this.db.rows<Row>(sql, params);
  }

  /** One batch statement as one SERIALIZABLE transaction, run again whole when SSI aborts it. */
  private deleting(sql: string, params: Parameters<PgQueries['rows']>[1]): Promise<Row[]> {
    return this.db.transaction((tx) => tx.rows<Row>(sql, params), { isolation: 'serializable' });
  }

  /** Every query of `read` on one snapshot, in a transaction that cannot write. */
  private snapshot<T>(read: (all: (sql: string, params?: Parameters<PgQueries['rows']>[1]) => Promise<Row[]>) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      // First statement after BEGIN, so it still sets this transaction's mode.
      await tx.run('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      return read((sql, params = []) => tx.rows<Row>(sql, params));
    });
  }

  async registryCandidates(cutoff: number): Promise<RegistryCandidates> {
    return this.snapshot(async (all) => {
      const links = (await all(SQL.candidateLinks, [cutoff])).map((r) => ({
        repository_id: num(r.repository_id),
        digest: String(r.digest),
        repository: String(r.repository),
        size: r.size === null ? null : num(r.size),
      }));
      const repositories = (await all(SQL.candidateRepositories, [cutoff])).map((r) => ({ id: num(r.id), name: String(r.name) }));
      const unheld = (await all(SQL.unheldBlobs, [cutoff])).map((r) => ({ digest: String(r.digest), size: num(r.size), created_at: num(r.created_at), young_link: r.young_link === true }));
      return { ...splitUnheld(unheld, cutoff), links, repositories };
    });
  }

  async registryGraph(): Promise<RegistryGraph> {
    return this.snapshot(async (all) => {
      const repositories = (await all(SQL.repositories)).map((r) => ({ id: num(r.id), name: String(r.name) }));
      const manifests: ManifestNode[] = (await all(SQL.manifests)).map((r) => ({
        repository_id: num(r.repository_id),
        digest: String(r.digest),
        subject: r.subject === null ? null : String(r.subject),
        created_at: num(r.created_at),
        size: num(r.size),
      }));
      const tagged: ManifestKey[] = (await all(SQL.tagged)).map((r) => ({ repository_id: num(r.repository_id), digest: String(r.digest) }));
      const references: ManifestEdge[] = (await all(SQL.references)).map((r) => ({
        repository_id: num(r.repository_id),
        manifest_digest: String(r.manifest_digest),
        child_digest: String(r.child_digest),
        kind: r.kind === 'manifest' ? 'manifest' : 'blob',
      }));
      const links: LinkRow[] = (await all(SQL.links)).map((r) => ({ repository_id: num(r.repository_id), digest: String(r.digest), created_at: num(r.created_at) }));
      const blobs: BlobRow[] = (await all(SQL.blobs)).map((r) => ({ digest: String(r.digest), size: num(r.size), created_at: num(r.created_at) }));
      return { repositories, manifests, tagged, references, links, blobs };
    });
  }

  async blobsKnown(digests: readonly string[]): Promise<Set<string>> {
    return new Set((await this.rows(SQL.blobsKnown, [digests])).map((r) => String(r.digest)));
  }

  async uploadsKnown(ids: readonly string[]): Promise<Set<string>> {
    return new Set((await this.rows(SQL.uploadsKnown, [ids])).map((r) => String(r.id)));
  }

  async staleUploads(before: number): Promise<Array<{ id: string; repository: string }>> {
    return (await this.rows(SQL.staleUploads, [before])).map((r) => ({ id: String(r.id), repository: String(r.repository) }));
  }

  async deleteUntaggedManifests<T extends ManifestKey>(batch: readonly T[]): Promise<T[]> {
    if (batch.length === 0) return [];
    const rows = await this.deleting(SQL.deleteUntaggedManifests, [batch.map((m) => m.repository_id), batch.map((m) => m.digest)]);
    return deletedOf(batch, (m) => keyOf(m.repository_id, m.digest), rows, (r) => keyOf(num(r.repository_id), String(r.digest)));
  }

  async deleteUnreferencedLinks<T extends ManifestKey>(batch: readonly T[], cutoff: number): Promise<T[]> {
    if (batch.length === 0) return [];
    const rows = await this.deleting(SQL.deleteLinks, [batch.map((l) => l.repository_id), batch.map((l) => l.digest), cutoff]);
    return deletedOf(batch, (l) => keyOf(l.repository_id, l.digest), rows, (r) => keyOf(num(r.repository_id), String(r.digest)));
  }

  async deleteEmptyRepositories(ids: readonly number[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const names = new Map((await this.deleting(SQL.deleteEmptyRepositories, [ids])).map((r) => [num(r.id), String(r.name)]));
    return ids.flatMap((id) => {
      const name = names.get(id);
      return name === undefined ? [] : [name];
    });
  }

  async deleteUnreferencedBlobs(digests: readonly string[], cutoff: number): Promise<string[]> {
    if (digests.length === 0) return [];
    const rows = await this.deleting(SQL.deleteBlobs, [digests, cutoff]);
    return deletedOf(digests, (d) => d, rows, (r) => String(r.digest));
  }

  async deleteStaleUploads(ids: readonly string[], before: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.deleting(SQL.deleteUploads, [ids, before]);
    return deletedOf(ids, (id) => id, rows, (r) => String(r.id));
  }

  async proxyGraph(visit: ProxyGraphVisitor): Promise<void> {
    await this.snapshot(async (all) => {
      for (const r of await all(SQL.proxyPins)) {
        visit.pin({ upstream: String(r.upstream), repository: String(r.repository), reference: String(r.reference) });
      }
      for (const r of await all(SQL.proxyTags)) {
        visit.tag({ upstream: String(r.upstream), repository: String(r.repository), tag: String(r.tag), digest: String(r.digest), checked_at: num(r.checked_at), last_access: num(r.last_access) });
      }
      for (const r of await all(SQL.proxyManifests)) {
        visit.manifest({ upstream: String(r.upstream), repository: String(r.repository), digest: String(r.digest), size: num(r.size), fetched_at: num(r.fetched_at), last_access: num(r.last_access) });
      }
      for (const r of await all(SQL.proxyBlobs)) {
        visit.blob({ upstream: String(r.upstream), digest: String(r.digest), size: num(r.size), fetched_at: num(r.fetched_at), last_access: num(r.last_access) });
      }
      for (const r of await all(SQL.proxyReferences)) {
        visit.reference({ upstream: String(r.upstream), repository: String(r.repository), manifest_digest: String(r.manifest_digest), child_digest: String(r.child_digest), kind: String(r.kind) });
      }
    });
  }

  async proxyContentKnown(digests: readonly string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    return new Set((await this.rows(SQL.proxyContentKnown, [digests])).map((r) => String(r.digest)));
  }

  async deleteProxyTags<T extends ProxyTagKey>(batch: readonly T[]): Promise<T[]> {
    if (batch.length === 0) return [];
    const rows = await this.deleting(SQL.deleteProxyTags, [batch.map((t) => t.upstream), batch.map((t) => t.repository), batch.map((t) => t.tag), batch.map((t) => t.last_access)]);
    return deletedOf(batch, (t) => keyOf(t.upstream, t.repository, t.tag), rows, (r) => keyOf(String(r.upstream), String(r.repository), String(r.tag)));
  }

  async deleteProxyManifests<T extends ProxyManifestKey>(batch: readonly T[]): Promise<T[]> {
    if (batch.length === 0) return [];
    const rows = await this.deleting(SQL.deleteProxyManifests, [batch.map((m) => m.upstream), batch.map((m) => m.repository), batch.map((m) => m.digest), batch.map((m) => m.last_access)]);
    return deletedOf(batch, (m) => keyOf(m.upstream, m.repository, m.digest), rows, (r) => keyOf(String(r.upstream), String(r.repository), String(r.digest)));
  }

  async deleteProxyBlobs<T extends ProxyBlobKey>(batch: readonly T[]): Promise<T[]> {
    if (batch.length === 0) return [];
    const rows = await this.deleting(SQL.deleteProxyBlobs, [batch.map((b) => b.upstream), batch.map((b) => b.digest), batch.map((b) => b.last_access)]);
    return deletedOf(batch, (b) => keyOf(b.upstream, b.digest), rows, (r) => keyOf(String(r.upstream), String(r.digest)));
  }

  async close(): Promise<void> {
    await this.db.end();
  }
}
