/**
 * The RegistryIndex on SQLite (better-sqlite3, WAL mode). All SQL of the registry lives
 * here as prepared statements; every change is one IMMEDIATE transaction run by the
 * SqliteWriter (which waits for another process's write lock without blocking), so a reader
 * never sees half of one. Writes that find the disk full throw a StorageFullError.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock } from '../../primitives/clock.js';
import type { Digest, RepoName, Tag } from '../../primitives/types.js';
import { MANIFEST_COLUMNS, toRecord, type ManifestRow } from '../manifest-row.js';
import { up as initial } from './migrations/001-initial.js';
import { up as proxyCache } from './migrations/002-proxy-cache.js';
import { up as gcIndexes } from './migrations/003-gc-indexes.js';
import { up as proxyBlobRepositories } from './migrations/004-proxy-blob-repositories.js';
import { up as replicas } from './migrations/005-replicas.js';
import { up as gcLastRun } from './migrations/006-gc-last-run.js';
import { up as scale } from './migrations/007-scale.js';
import { up as dropUnusedIndex } from './migrations/008-drop-unused-index.js';
import { up as proxyPins } from './migrations/009-proxy-pins.js';
import { up as browse } from './migrations/010-browse.js';
import type { ManifestRecord, ManifestReference, RegistryIndex, RepositoryRemoval, UploadRecord } from '../registry-index.js';
import { SqliteWriter } from './sqlite-writer.js';

const MIGRATIONS: string[] = [initial, proxyCache, gcIndexes, proxyBlobRepositories, replicas, gcLastRun, scale, dropUnusedIndex, proxyPins, browse];

export interface OpenOptions {
  /**
   * How long SQLite itself waits (the thread sleeping) for another connection's lock once
   * the database is open. The server passes 0 and waits in SqliteWriter instead; GC, a
   * process of its own, may sleep. Opening and migrating always wait up to 5 s.
   */
  busyTimeoutMs?: number;
}

export function openDatabase(path: string, options: OpenOptions = {}): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('busy_timeout = 5000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  // Table statistics for the query planner, taken now if missing or stale (the tables grew or
  // shrank tenfold since), each from a bounded sample so a large index opens as fast as a small
  // one. Without them SQLite guessed, on a large index, that a primary key prefix whose first
  // column is one value everywhere (the upstream of proxy_blob_repositories) was selective and
  // scanned the whole table for each proxy blob GC deleted (the foreign key's cascade).
  db.pragma('analysis_limit = 1000');
  db.pragma('optimize = 0x10002');
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
  return db;
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

export class SqliteIndex implements RegistryIndex {
  private readonly s;
  private readonly tx;

  constructor(
    private readonly db: Database.Database,
    writer: SqliteWriter = new SqliteWriter(db, { clock: systemClock }),
  ) {
    const manifestColumns = MANIFEST_COLUMNS;
    this.s = {
      repoId: db.prepare<[string], { id: number }>('SELECT id FROM repositories WHERE name = ?'),
      insertRepo: db.prepare<[string, number]>('INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING'),
      // A repository is listed while it holds a manifest: one whose tags and manifests were all
      // deleted is gone from the catalog at once, though its row and blob links wait for GC.
      listRepos: db.prepare<[string, number], { name: string }>(
        'SELECT name FROM repositories r WHERE name > ? AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id) ORDER BY name LIMIT ?',
      ),
      repoBlobSize: db.prepare<[string, string], { size: number }>(
        `SELECT b.size FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
         JOIN blobs b ON b.digest = rb.digest WHERE r.name = ? AND rb.digest = ?`,
      ),
      blobSize: db.prepare<[string], { size: number }>('SELECT size FROM blobs WHERE digest = ?'),
      insertBlob: db.prepare<[string, number, number]>('INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT(digest) DO NOTHING'),
      insertLink: db.prepare<[number, string, number]>(
        'INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      deleteLink: db.prepare<[string, string]>(
        'DELETE FROM repository_blobs WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?',
      ),
      getManifest: db.prepare<[string, string], ManifestRow>(
        `SELECT ${manifestColumns} FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?`,
      ),
      insertManifest: db.prepare<[number, string, string, number, string | null, string | null, string | null, number]>(
        `INSERT INTO manifests (repository_id, digest, media_type, size, artifact_type, subject, annotations, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      insertReference: db.prepare<[number, string, string, string]>(
        'INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, kind) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      deleteManifest: db.prepare<[number, string]>('DELETE FROM manifests WHERE repository_id = ? AND digest = ?'),
      deleteRepoTags: db.prepare<[number]>('DELETE FROM tags WHERE repository_id = ?'),
      deleteRepoManifests: db.prepare<[number]>('DELETE FROM manifests WHERE repository_id = ?'),
      deleteRepoLinks: db.prepare<[number]>('DELETE FROM repository_blobs WHERE repository_id = ?'),
      deleteRepo: db.prepare<[number]>('DELETE FROM repositories WHERE id = ?'),
      upsertTag: db.prepare<[number, string, string, number]>(
        `INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
      ),
      resolveTag: db.prepare<[string, string], ManifestRow>(
        `SELECT ${manifestColumns} FROM tags t JOIN repositories r ON r.id = t.repository_id
         JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest WHERE r.name = ? AND t.name = ?`,
      ),
      listTags: db.prepare<[string, string, number], { name: string }>(
        `SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = ? AND t.name > ? ORDER BY t.name LIMIT ?`,
      ),
      deleteTag: db.prepare<[string, string]>(
        'DELETE FROM tags WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?',
      ),
      referrers: db.prepare<[string, string], ManifestRow>(
        `SELECT ${manifestColumns} FROM manifests m JOIN repositories r ON r.id = m.repository_id
         WHERE r.name = ? AND m.subject = ? ORDER BY m.created_at, m.digest`,
      ),
      insertUpload: db.prepare<[string, string, number, number]>('INSERT INTO uploads (id, repository, created_at, updated_at) VALUES (?, ?, ?, ?)'),
      getUpload: db.prepare<[string], { id: string; repository: string; created_at: number; updated_at: number }>(
        'SELECT id, repository, created_at, updated_at FROM uploads WHERE id = ?',
      ),
      touchUpload: db.prepare<[number, string]>('UPDATE uploads SET updated_at = ? WHERE id = ?'),
      deleteUpload: db.prepare<[string]>('DELETE FROM uploads WHERE id = ?'),
      claimUpload: db.prepare<[string, number, string, string, number]>(
        'UPDATE uploads SET claimed_by = ?, claimed_until = ? WHERE id = ? AND (claimed_by IS NULL OR claimed_by = ? OR claimed_until <= ?)',
      ),
      releaseUpload: db.prepare<[string, string]>('UPDATE uploads SET claimed_by = NULL, claimed_until = 0 WHERE id = ? AND claimed_by = ?'),
    };

    this.tx = {
      linkBlob: writer.transaction((repo: string, digest: string, size: number, now: number) => {
        const repoId = this.ensureRepo(repo, now);
        this.s.insertBlob.run(digest, size, now);
        this.s.insertLink.run(repoId, digest, now);
      }),
      unlinkBlob: writer.transaction((repo: string, digest: string) => this.s.deleteLink.run(repo, digest).changes > 0),
      deleteRepository: writer.transaction((repo: string): RepositoryRemoval | undefined => {
        const repoId = this.repoIdOf(repo);
        if (repoId === undefined) return undefined;
        // Tags first (they would go with their manifests, uncounted); references go with manifests.
        const tags = this.s.deleteRepoTags.run(repoId).changes;
        const manifests = this.s.deleteRepoManifests.run(repoId).changes;
        const links = this.s.deleteRepoLinks.run(repoId).changes;
        this.s.deleteRepo.run(repoId);
        return { manifests, tags, links };
      }),
      putManifest: writer.transaction(
        (repo: string, m: ManifestRecord, references: ManifestReference[], tag: string | undefined, now: number): ManifestReference | undefined => {
          const missing = references.find((ref) =>
            ref.kind === 'blob' ? this.s.repoBlobSize.get(repo, ref.digest) === undefined : this.s.getManifest.get(repo, ref.digest) === undefined,
          );
          if (missing) return missing;
          const repoId = this.ensureRepo(repo, now);
          this.s.insertBlob.run(m.digest, m.size, now);
          this.s.insertManifest.run(repoId, m.digest, m.mediaType, m.size, m.artifactType, m.subject, m.annotations, now);
          for (const ref of references) this.s.insertReference.run(repoId, m.digest, ref.digest, ref.kind);
          if (tag !== undefined) this.s.upsertTag.run(repoId, tag, m.digest, now);
          return undefined;
        },
      ),
      deleteManifest: writer.transaction((repo: string, digest: string): boolean => {
        const repoId = this.repoIdOf(repo);
        // Tags and references go with it (ON DELETE CASCADE).
        return repoId !== undefined && this.s.deleteManifest.run(repoId, digest).changes > 0;
      }),
      deleteTag: writer.transaction((repo: string, tag: string) => this.s.deleteTag.run(repo, tag).changes > 0),
      createUpload: writer.transaction((id: string, repo: string, now: number) => {
        this.s.insertUpload.run(id, repo, now, now);
      }),
      touchUpload: writer.transaction((id: string, now: number) => {
        this.s.touchUpload.run(now, id);
      }),
      claimUpload: writer.transaction((id: string, holder: string, until: number, now: number) => this.s.claimUpload.run(holder, until, id, holder, now).changes === 1),
      releaseUpload: writer.transaction((id: string, holder: string) => {
        this.s.releaseUpload.run(id, holder);
      }),
      deleteUpload: writer.transaction((id: string) => {
        this.s.deleteUpload.run(id);
      }),
    };
  }

  private ensureRepo(name: string, now: number): number {
    this.s.insertRepo.run(name, now);
    return (this.s.repoId.get(name) as { id: number }).id;
  }

  private repoIdOf(name: string): number | undefined {
    return this.s.repoId.get(name)?.id;
  }

  async repositoryExists(repo: RepoName): Promise<boolean> {
    return this.repoIdOf(repo) !== undefined;
  }

  async listRepositories(after: string | undefined, limit: number): Promise<string[]> {
    return this.s.listRepos.all(after ?? '', limit).map((r) => r.name);
  }

  async repositoryBlobSize(repo: RepoName, digest: Digest): Promise<number | undefined> {
    return this.s.repoBlobSize.get(repo, digest)?.size;
  }

  async blobSize(digest: Digest): Promise<number | undefined> {
    return this.s.blobSize.get(digest)?.size;
  }

  async linkBlob(repo: RepoName, digest: Digest, size: number, now: number): Promise<void> {
    await this.tx.linkBlob(repo, digest, size, now);
  }

  async unlinkBlob(repo: RepoName, digest: Digest): Promise<boolean> {
    return this.tx.unlinkBlob(repo, digest);
  }

  async repositoryBlobSizes(repo: RepoName, digests: Digest[]): Promise<Map<Digest, number>> {
    const sizes = new Map<Digest, number>();
    for (const digest of new Set(digests)) {
      const row = this.s.repoBlobSize.get(repo, digest);
      if (row) sizes.set(digest, row.size);
    }
    return sizes;
  }

  async getManifest(repo: RepoName, digest: Digest): Promise<ManifestRecord | undefined> {
    const row = this.s.getManifest.get(repo, digest);
    return row && toRecord(row);
  }

  async existingManifests(repo: RepoName, digests: Digest[]): Promise<Set<Digest>> {
    return new Set(digests.filter((d) => this.s.getManifest.get(repo, d) !== undefined));
  }

  async putManifest(repo: RepoName, manifest: ManifestRecord, references: ManifestReference[], tag: Tag | undefined, now: number): Promise<ManifestReference | undefined> {
    return this.tx.putManifest(repo, manifest, references, tag, now);
  }

  async deleteManifest(repo: RepoName, digest: Digest): Promise<boolean> {
    return this.tx.deleteManifest(repo, digest);
  }

  async deleteRepository(repo: RepoName): Promise<RepositoryRemoval | undefined> {
    return this.tx.deleteRepository(repo);
  }

  async resolveTag(repo: RepoName, tag: Tag): Promise<ManifestRecord | undefined> {
    const row = this.s.resolveTag.get(repo, tag);
    return row && toRecord(row);
  }

  async listTags(repo: RepoName, after: string | undefined, limit: number): Promise<string[]> {
    return this.s.listTags.all(repo, after ?? '', limit).map((r) => r.name);
  }

  async deleteTag(repo: RepoName, tag: Tag): Promise<boolean> {
    return this.tx.deleteTag(repo, tag);
  }

  async referrers(repo: RepoName, subject: Digest): Promise<ManifestRecord[]> {
    return this.s.referrers.all(repo, subject).map(toRecord);
  }

  async createUpload(id: string, repo: RepoName, now: number): Promise<void> {
    await this.tx.createUpload(id, repo, now);
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const row = this.s.getUpload.get(id);
    return row && { id: row.id, repository: row.repository as RepoName, createdAt: row.created_at, updatedAt: row.updated_at };
  }

  async touchUpload(id: string, now: number): Promise<void> {
    await this.tx.touchUpload(id, now);
  }

  claimUpload(id: string, holder: string, until: number, now: number): Promise<boolean> {
    return this.tx.claimUpload(id, holder, until, now);
  }

  releaseUpload(id: string, holder: string): Promise<void> {
    return this.tx.releaseUpload(id, holder);
  }

  async deleteUpload(id: string): Promise<void> {
    await this.tx.deleteUpload(id);
  }

  close(): void {
    this.db.close();
  }
}
