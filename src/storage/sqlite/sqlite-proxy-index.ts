/**
 * The ProxyIndex on the same SQLite database as the registry index (tables of migrations 002
 * and 004). Every change goes through the SqliteWriter, as the registry index's do.
 */
import type Database from 'better-sqlite3';
import { systemClock } from '../../primitives/clock.js';
import type { Digest } from '../../primitives/types.js';
import type { CachedBlob, CachedManifest, CachedTag, ProxyIndex, ProxyPin } from '../proxy-index.js';
import type { ManifestReference } from '../registry-index.js';
import { SqliteWriter } from './sqlite-writer.js';

export class SqliteProxyIndex implements ProxyIndex {
  private readonly s;
  private readonly tx;

  constructor(db: Database.Database, writer: SqliteWriter = new SqliteWriter(db, { clock: systemClock })) {
    this.s = {
      getTag: db.prepare<[string, string, string], { digest: string; media_type: string; size: number; checked_at: number }>(
        `SELECT t.digest, m.media_type, m.size, t.checked_at FROM proxy_tags t
         JOIN proxy_manifests m ON m.upstream = t.upstream AND m.repository = t.repository AND m.digest = t.digest
         WHERE t.upstream = ? AND t.repository = ? AND t.tag = ?`,
      ),
      confirmTag: db.prepare<[number, number, string, string, string]>(
        'UPDATE proxy_tags SET checked_at = ?, last_access = ? WHERE upstream = ? AND repository = ? AND tag = ?',
      ),
      touchTag: db.prepare<[number, string, string, string]>('UPDATE proxy_tags SET last_access = ? WHERE upstream = ? AND repository = ? AND tag = ?'),
      listTags: db.prepare<[string, string], { tag: string }>('SELECT tag FROM proxy_tags WHERE upstream = ? AND repository = ? ORDER BY tag'),
      deleteTag: db.prepare<[string, string, string]>('DELETE FROM proxy_tags WHERE upstream = ? AND repository = ? AND tag = ?'),
      upsertTag: db.prepare<[string, string, string, string, number, number]>(
        `INSERT INTO proxy_tags (upstream, repository, tag, digest, checked_at, last_access) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET digest = excluded.digest, checked_at = excluded.checked_at, last_access = excluded.last_access`,
      ),
      getManifest: db.prepare<[string, string, string], { digest: string; media_type: string; size: number }>(
        'SELECT digest, media_type, size FROM proxy_manifests WHERE upstream = ? AND repository = ? AND digest = ?',
      ),
      insertManifest: db.prepare<[string, string, string, string, number, number, number]>(
        `INSERT INTO proxy_manifests (upstream, repository, digest, media_type, size, fetched_at, last_access) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET last_access = excluded.last_access`,
      ),
      insertReference: db.prepare<[string, string, string, string, string]>(
        `INSERT INTO proxy_manifest_references (upstream, repository, manifest_digest, child_digest, kind) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      touchManifest: db.prepare<[number, string, string, string]>(
        'UPDATE proxy_manifests SET last_access = ? WHERE upstream = ? AND repository = ? AND digest = ?',
      ),
      // One statement: the blob by primary key, then (CASE stops at the first hit) the
      // repository row by primary key, then a cached manifest of the repository naming it.
      getBlob: db.prepare<{ upstream: string; repo: string; digest: string }, { size: number; in_repository: number }>(
        `SELECT b.size, CASE
           WHEN EXISTS (SELECT 1 FROM proxy_blob_repositories r
                        WHERE r.upstream = b.upstream AND r.repository = @repo AND r.digest = b.digest) THEN 1
           WHEN EXISTS (SELECT 1 FROM proxy_manifest_references mr
                        WHERE mr.upstream = b.upstream AND mr.repository = @repo AND mr.child_digest = b.digest AND mr.kind = 'blob') THEN 1
           ELSE 0 END AS in_repository
         FROM proxy_blobs b WHERE b.upstream = @upstream AND b.digest = @digest`,
      ),
      putBlob: db.prepare<[string, string, number, number, number]>(
        `INSERT INTO proxy_blobs (upstream, digest, size, fetched_at, last_access) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET last_access = excluded.last_access`,
      ),
      // INSERT ... SELECT: no row when the blob is not cached (GC may just have removed it).
      putBlobRepository: db.prepare<[string, number, string, string]>(
        `INSERT INTO proxy_blob_repositories (upstream, repository, digest, created_at)
         SELECT upstream, ?, digest, ? FROM proxy_blobs WHERE upstream = ? AND digest = ?
         ON CONFLICT DO NOTHING`,
      ),
      touchBlob: db.prepare<[number, string, string]>('UPDATE proxy_blobs SET last_access = ? WHERE upstream = ? AND digest = ?'),
      pin: db.prepare<[string, string, string, number]>(
        'INSERT INTO proxy_pins (upstream, repository, reference, pinned_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      unpin: db.prepare<[string, string, string]>('DELETE FROM proxy_pins WHERE upstream = ? AND repository = ? AND reference = ?'),
      listPins: db.prepare<[], { upstream: string; repository: string; reference: string; pinned_at: number }>(
        'SELECT upstream, repository, reference, pinned_at FROM proxy_pins ORDER BY upstream, repository, reference',
      ),
    };
    // Each write is a function of its own so a busy index is waited for and retried whole.
    const write = <A extends unknown[]>(fn: (...args: A) => unknown): ((...args: A) => Promise<void>) => {
      const tx = writer.transaction(fn);
      return async (...args: A) => {
        await tx(...args);
      };
    };
    this.tx = {
      putManifest: write((upstream: string, repo: string, m: CachedManifest, references: ManifestReference[], tag: string | undefined, now: number) => {
        this.s.insertManifest.run(upstream, repo, m.digest, m.mediaType, m.size, now, now);
        for (const ref of references) this.s.insertReference.run(upstream, repo, m.digest, ref.digest, ref.kind);
        if (tag !== undefined) this.s.upsertTag.run(upstream, repo, tag, m.digest, now, now);
      }),
      confirmTag: write((upstream: string, repo: string, tag: string, now: number) => this.s.confirmTag.run(now, now, upstream, repo, tag)),
      touchTag: write((upstream: string, repo: string, tag: string, now: number) => this.s.touchTag.run(now, upstream, repo, tag)),
      deleteTag: write((upstream: string, repo: string, tag: string) => this.s.deleteTag.run(upstream, repo, tag)),
      touchManifest: write((upstream: string, repo: string, digest: string, now: number) => this.s.touchManifest.run(now, upstream, repo, digest)),
      putBlob: write((upstream: string, digest: string, size: number, repos: Iterable<string>, now: number) => {
        this.s.putBlob.run(upstream, digest, size, now, now);
        for (const repo of repos) this.s.putBlobRepository.run(repo, now, upstream, digest);
      }),
      putBlobRepository: write((upstream: string, repo: string, digest: string, now: number) => this.s.putBlobRepository.run(repo, now, upstream, digest)),
      touchBlob: write((upstream: string, digest: string, now: number) => this.s.touchBlob.run(now, upstream, digest)),
      setPin: write((upstream: string, repo: string, reference: string, pinned: boolean, now: number) =>
        pinned ? this.s.pin.run(upstream, repo, reference, now) : this.s.unpin.run(upstream, repo, reference),
      ),
    };
  }

  async getTag(upstream: string, repo: string, tag: string): Promise<CachedTag | undefined> {
    const row = this.s.getTag.get(upstream, repo, tag);
    return row && { digest: row.digest as Digest, mediaType: row.media_type, size: row.size, checkedAt: row.checked_at };
  }

  async confirmTag(upstream: string, repo: string, tag: string, now: number): Promise<void> {
    return this.tx.confirmTag(upstream, repo, tag, now);
  }

  async touchTag(upstream: string, repo: string, tag: string, now: number): Promise<void> {
    return this.tx.touchTag(upstream, repo, tag, now);
  }

  async listTags(upstream: string, repo: string): Promise<string[]> {
    return this.s.listTags.all(upstream, repo).map((r) => r.tag);
  }

  async deleteTag(upstream: string, repo: string, tag: string): Promise<void> {
    return this.tx.deleteTag(upstream, repo, tag);
  }

  async getManifest(upstream: string, repo: string, digest: Digest): Promise<CachedManifest | undefined> {
    const row = this.s.getManifest.get(upstream, repo, digest);
    return row && { digest: row.digest as Digest, mediaType: row.media_type, size: row.size };
  }

  async putManifest(upstream: string, repo: string, manifest: CachedManifest, references: ManifestReference[], tag: string | undefined, now: number): Promise<void> {
    return this.tx.putManifest(upstream, repo, manifest, references, tag, now);
  }

  async touchManifest(upstream: string, repo: string, digest: Digest, now: number): Promise<void> {
    return this.tx.touchManifest(upstream, repo, digest, now);
  }

  async getBlob(upstream: string, repo: string, digest: Digest): Promise<CachedBlob | undefined> {
    const row = this.s.getBlob.get({ upstream, repo, digest });
    return row && { size: row.size, inRepository: row.in_repository === 1 };
  }

  async putBlob(upstream: string, digest: Digest, size: number, repos: Iterable<string>, now: number): Promise<void> {
    return this.tx.putBlob(upstream, digest, size, repos, now);
  }

  async putBlobRepository(upstream: string, repo: string, digest: Digest, now: number): Promise<void> {
    return this.tx.putBlobRepository(upstream, repo, digest, now);
  }

  async touchBlob(upstream: string, digest: Digest, now: number): Promise<void> {
    return this.tx.touchBlob(upstream, digest, now);
  }

  async setPin(upstream: string, repo: string, reference: string, pinned: boolean, now: number): Promise<void> {
    return this.tx.setPin(upstream, repo, reference, pinned, now);
  }

  async listPins(): Promise<ProxyPin[]> {
    return this.s.listPins.all().map((r) => ({ upstream: r.upstream, repository: r.repository, reference: r.reference, pinnedAt: r.pinned_at }));
  }
}
