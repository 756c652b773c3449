/**
 * The ProxyIndex on PostgreSQL (the proxy_* tables of pg-migrations.ts), same semantics as
 * sqlite/sqlite-proxy-index.ts. Several replicas write these rows at once, and GC deletes
 * them: a write that takes several statements is one READ COMMITTED transaction (retried
 * whole on a deadlock). That is enough here: each such write first upserts the row it hangs
 * the rest on (the manifest, the blob), so it holds that row's lock to the end, and GC's
 * delete of it (`last_access <=` what GC saw) waits and then finds the row read since, or
 * went first and the upsert inserts the row anew.
 */
import type { Digest } from '../../primitives/types.js';
import type { CachedBlob, CachedManifest, CachedTag, ProxyIndex, ProxyPin } from '../proxy-index.js';
import type { ManifestReference } from '../registry-index.js';
import { pgCode } from './pg-errors.js';
import type { PgPool, PgValue } from './pg-pool.js';

/** foreign_key_violation: the row a new row points at was deleted meanwhile (by GC). */
const FOREIGN_KEY_VIOLATION = '23503';

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

const SQL = {
  getTag: `
    SELECT t.digest, m.media_type, m.size, t.checked_at FROM proxy_tags t
    JOIN proxy_manifests m ON m.upstream = t.upstream AND m.repository = t.repository AND m.digest = t.digest
    WHERE t.upstream = $1 AND t.repository = $2 AND t.tag = $3`,
  confirmTag: 'UPDATE proxy_tags SET checked_at = $1, last_access = $1 WHERE upstream = $2 AND repository = $3 AND tag = $4',
  touchTag: 'UPDATE proxy_tags SET last_access = $1 WHERE upstream = $2 AND repository = $3 AND tag = $4',
  listTags: 'SELECT tag FROM proxy_tags WHERE upstream = $1 AND repository = $2 ORDER BY tag COLLATE "C"',
  deleteTag: 'DELETE FROM proxy_tags WHERE upstream = $1 AND repository = $2 AND tag = $3',
  upsertTag: `
    INSERT INTO proxy_tags (upstream, repository, tag, digest, checked_at, last_access) VALUES ($1, $2, $3, $4, $5, $5)
    ON CONFLICT (upstream, repository, tag) DO UPDATE SET digest = excluded.digest, checked_at = excluded.checked_at, last_access = excluded.last_access`,
  getManifest: 'SELECT digest, media_type, size FROM proxy_manifests WHERE upstream = $1 AND repository = $2 AND digest = $3',
  upsertManifest: `
    INSERT INTO proxy_manifests (upstream, repository, digest, media_type, size, fetched_at, last_access) VALUES ($1, $2, $3, $4, $5, $6, $6)
    ON CONFLICT (upstream, repository, digest) DO UPDATE SET last_access = excluded.last_access`,
  insertReferences: `
    INSERT INTO proxy_manifest_references (upstream, repository, manifest_digest, child_digest, kind)
    SELECT $1, $2, $3, r.child_digest, r.kind FROM unnest($4::text[], $5::text[]) AS r(child_digest, kind)
    ON CONFLICT DO NOTHING`,
  touchManifest: 'UPDATE proxy_manifests SET last_access = $1 WHERE upstream = $2 AND repository = $3 AND digest = $4',
  // One statement, as on SQLite: the blob by primary key, then (CASE stops at the first hit)
  // the repository row by primary key, then a cached manifest of the repository naming it.
  getBlob: `
    SELECT b.size, CASE
      WHEN EXISTS (SELECT 1 FROM proxy_blob_repositories r
                   WHERE r.upstream = b.upstream AND r.repository = $2 AND r.digest = b.digest) THEN true
      WHEN EXISTS (SELECT 1 FROM proxy_manifest_references mr
                   WHERE mr.upstream = b.upstream AND mr.repository = $2 AND mr.child_digest = b.digest AND mr.kind = 'blob') THEN true
      ELSE false END AS in_repository
    FROM proxy_blobs b WHERE b.upstream = $1 AND b.digest = $3`,
  upsertBlob: `
    INSERT INTO proxy_blobs (upstream, digest, size, fetched_at, last_access) VALUES ($1, $2, $3, $4, $4)
    ON CONFLICT (upstream, digest) DO UPDATE SET last_access = excluded.last_access`,
  // INSERT ... SELECT: no row when the blob is not cached (GC may just have removed it).
  putBlobRepositories: `
    INSERT INTO proxy_blob_repositories (upstream, repository, digest, created_at)
    SELECT b.upstream, r.repository, b.digest, $4 FROM proxy_blobs b CROSS JOIN unnest($3::text[]) AS r(repository)
    WHERE b.upstream = $1 AND b.digest = $2
    ON CONFLICT DO NOTHING`,
  touchBlob: 'UPDATE proxy_blobs SET last_access = $1 WHERE upstream = $2 AND digest = $3',
  pin: 'INSERT INTO proxy_pins (upstream, repository, reference, pinned_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
  unpin: 'DELETE FROM proxy_pins WHERE upstream = $1 AND repository = $2 AND reference = $3',
  listPins: 'SELECT upstream, repository, reference, pinned_at FROM proxy_pins ORDER BY upstream, repository, reference',
} as const;

export class PgProxyIndex implements ProxyIndex {
  constructor(private readonly db: PgPool) {}

  private async run(sql: string, params: readonly PgValue[]): Promise<void> {
    await this.db.run(sql, params);
  }

  async getTag(upstream: string, repo: string, tag: string): Promise<CachedTag | undefined> {
    const row = await this.db.one<Record<string, unknown>>(SQL.getTag, [upstream, repo, tag]);
    return row && { digest: String(row.digest) as Digest, mediaType: String(row.media_type), size: num(row.size), checkedAt: num(row.checked_at) };
  }

  async confirmTag(upstream: string, repo: string, tag: string, now: number): Promise<void> {
    await this.run(SQL.confirmTag, [now, upstream, repo, tag]);
  }

  async touchTag(upstream: string, repo: string, tag: string, now: number): Promise<void> {
    await this.run(SQL.touchTag, [now, upstream, repo, tag]);
  }

  async listTags(upstream: string, repo: string): Promise<string[]> {
    return (await this.db.rows<{ tag: string }>(SQL.listTags, [upstream, repo])).map((r) => r.tag);
  }

  async deleteTag(upstream: string, repo: string, tag: string): Promise<void> {
    await this.run(SQL.deleteTag, [upstream, repo, tag]);
  }

  async getManifest(upstream: string, repo: string, digest: Digest): Promise<CachedManifest | undefined> {
    const row = await this.db.one<Record<string, unknown>>(SQL.getManifest, [upstream, repo, digest]);
    return row && { digest: String(row.digest) as Digest, mediaType: String(row.media_type), size: num(row.size) };
  }

  async putManifest(upstream: string, repo: string, m: CachedManifest, references: ManifestReference[], tag: string | undefined, now: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run(SQL.upsertManifest, [upstream, repo, m.digest, m.mediaType, m.size, now]);
      if (references.length > 0) await tx.run(SQL.insertReferences, [upstream, repo, m.digest, references.map((r) => r.digest), references.map((r) => r.kind)]);
      if (tag !== undefined) await tx.run(SQL.upsertTag, [upstream, repo, tag, m.digest, now]);
    }, { isolation: 'read committed' });
  }

  async touchManifest(upstream: string, repo: string, digest: Digest, now: number): Promise<void> {
    await this.run(SQL.touchManifest, [now, upstream, repo, digest]);
  }

  async getBlob(upstream: string, repo: string, digest: Digest): Promise<CachedBlob | undefined> {
    const row = await this.db.one<{ size: unknown; in_repository: boolean }>(SQL.getBlob, [upstream, repo, digest]);
    return row && { size: num(row.size), inRepository: row.in_repository === true };
  }

  async putBlob(upstream: string, digest: Digest, size: number, repos: Iterable<string>, now: number): Promise<void> {
    const repositories = [...new Set(repos)];
    await this.db.transaction(async (tx) => {
      await tx.run(SQL.upsertBlob, [upstream, digest, size, now]);
      if (repositories.length > 0) await tx.run(SQL.putBlobRepositories, [upstream, digest, repositories, now]);
    }, { isolation: 'read committed' });
  }

  async putBlobRepository(upstream: string, repo: string, digest: Digest, now: number): Promise<void> {
    try {
      await this.run(SQL.putBlobRepositories, [upstream, digest, [repo], now]);
    } catch (err) {
      // GC deleted the blob between this statement's look and its foreign-key check: the
      // blob is not cached any more, which is the "nothing" the contract promises.
      if (pgCode(err) !== FOREIGN_KEY_VIOLATION) throw err;
    }
  }

  async touchBlob(upstream: string, digest: Digest, now: number): Promise<void> {
    await this.run(SQL.touchBlob, [now, upstream, digest]);
  }

  async setPin(upstream: string, repo: string, reference: string, pinned: boolean, now: number): Promise<void> {
    if (pinned) await this.run(SQL.pin, [upstream, repo, reference, now]);
    else await this.run(SQL.unpin, [upstream, repo, reference]);
  }

  async listPins(): Promise<ProxyPin[]> {
    const rows = await this.db.rows<Record<string, unknown>>(SQL.listPins, []);
    return rows.map((r) => ({ upstream: String(r.upstream), repository: String(r.repository), reference: String(r.reference), pinnedAt: num(r.pinned_at) }));
  }
}
