/**
 * The RegistryIndex on PostgreSQL (schema in pg-schema.ts), shared by every replica. All SQL
 * of the registry on PostgreSQL lives here.
 *
 * How a manifest PUT re-checks its references atomically against a concurrent delete (GC's
 * batches, a DELETE of a child manifest, a repository removal): every write here that reads
 * before it writes (linkBlob, putManifest, deleteManifest, deleteRepository, deleteTag,
 * unlinkBlob) is a SERIALIZABLE transaction, run again whole on a serialization failure or
 * deadlock (PgPool.transaction, bounded, then 503). PostgreSQL's serializable snapshot
 * isolation aborts one of two transactions whose reads and writes cross: putManifest reads a
 * link (or child manifest) and writes references to it, GC's link delete reads "no
 * reference" and deletes the link; one of them is retried and then sees the other's commit.
 * This holds because GC's deletes are SERIALIZABLE too (the PostgreSQL GC index runs its
 * batches through PgPool.transaction with isolation 'serializable'); row locks alone
 * would not do it under READ COMMITTED, where a delete that waited for a FOR SHARE lock
 * still acts on the NOT EXISTS it evaluated before the wait.
 *
 * A write can also meet a foreign key a concurrent delete just broke (the blob row of a
 * digest went between ON CONFLICT DO NOTHING and the insert that references it, 23503):
 * linkBlob and putManifest run again then, and re-create the row.
 *
 * Single-statement writes on one row (uploads: create, touch, claim, release, delete) are
 * atomic as they are: PostgreSQL re-evaluates an UPDATE's WHERE on the row's latest version
 * after waiting for a concurrent writer of that row.
 */
import type { Digest, RepoName, Tag } from '../../primitives/types.js';
import { MANIFEST_COLUMNS, toRecord, type ManifestRow } from '../manifest-row.js';
import type { ManifestRecord, ManifestReference, RegistryIndex, RepositoryRemoval, UploadRecord } from '../registry-index.js';
import { pgCode } from './pg-errors.js';
import type { PgPool, PgQueries } from './pg-pool.js';

const SQL = {
  repoId: 'SELECT id FROM repositories WHERE name = $1',
  insertRepo: 'INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
  listRepos: `SELECT name FROM repositories r WHERE name > $1 AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id) ORDER BY name LIMIT $2`,
  repoBlobSize: `SELECT b.size FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                 JOIN blobs b ON b.digest = rb.digest WHERE r.name = $1 AND rb.digest = $2`,
  repoBlobSizes: `SELECT b.digest, b.size FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                  JOIN blobs b ON b.digest = rb.digest WHERE r.name = $1 AND rb.digest = ANY($2::text[])`,
  blobSize: 'SELECT size FROM blobs WHERE digest = $1',
  insertBlob: 'INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING',
  insertLink: 'INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
  deleteLink: 'DELETE FROM repository_blobs WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2',
  getManifest: `SELECT ${MANIFEST_COLUMNS} FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = $2`,
  existingManifests: `SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = ANY($2::text[])`,
  insertManifest: `INSERT INTO manifests (repository_id, digest, media_type, size, artifact_type, subject, annotations, created_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
  insertReferences: `INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, kind)
                     SELECT $1::bigint, $2::text, child, kind FROM unnest($3::text[], $4::text[]) AS r(child, kind) ON CONFLICT DO NOTHING`,
  deleteManifest: 'DELETE FROM manifests WHERE repository_id = $1 AND digest = $2',
  deleteRepoTags: 'DELETE FROM tags WHERE repository_id = $1',
  deleteRepoManifests: 'DELETE FROM manifests WHERE repository_id = $1',
  deleteRepoLinks: 'DELETE FROM repository_blobs WHERE repository_id = $1',
  deleteRepo: 'DELETE FROM repositories WHERE id = $1',
  upsertTag: `INSERT INTO tags (repository_id, name, digest, updated_at) VALUES ($1, $2, $3, $4)
              ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
  resolveTag: `SELECT ${MANIFEST_COLUMNS} FROM tags t JOIN repositories r ON r.id = t.repository_id
               JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest WHERE r.name = $1 AND t.name = $2`,
  listTags: 'SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = $1 AND t.name > $2 ORDER BY t.name LIMIT $3',
  deleteTag: 'DELETE FROM tags WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND name = $2',
  referrers: `SELECT ${MANIFEST_COLUMNS} FROM manifests m JOIN repositories r ON r.id = m.repository_id
              WHERE r.name = $1 AND m.subject = $2 ORDER BY m.created_at, m.digest`,
  insertUpload: 'INSERT INTO uploads (id, repository, created_at, updated_at) VALUES ($1, $2, $3, $3)',
  getUpload: 'SELECT id, repository, created_at, updated_at FROM uploads WHERE id = $1',
  touchUpload: 'UPDATE uploads SET updated_at = $1 WHERE id = $2',
  deleteUpload: 'DELETE FROM uploads WHERE id = $1',
  claimUpload: 'UPDATE uploads SET claimed_by = $1, claimed_until = $2 WHERE id = $3 AND (claimed_by IS NULL OR claimed_by = $1 OR claimed_until <= $4)',
  releaseUpload: 'UPDATE uploads SET claimed_by = NULL, claimed_until = 0 WHERE id = $1 AND claimed_by = $2',
} as const;

/** A foreign key a concurrent delete broke between our look and our insert: the whole transaction runs again. */
const brokenForeignKey = (err: unknown): boolean => pgCode(err) === '23503';

export class PgRegistryIndex implements RegistryIndex {
  constructor(private readonly db: PgPool) {}

  private serializable<T>(work: (tx: PgQueries) => Promise<T>, retryOnBrokenKey = false): Promise<T> {
    return this.db.transaction(work, { isolation: 'serializable', ...(retryOnBrokenKey ? { retryOn: brokenForeignKey } : {}) });
  }

  private async ensureRepo(tx: PgQueries, name: string, now: number): Promise<number> {
    await tx.run(SQL.insertRepo, [name, now]);
    const row = await tx.one<{ id: number }>(SQL.repoId, [name]);
    if (row === undefined) throw new Error(`repository ${name} vanished inside its own transaction`);
    return row.id;
  }

  private async repoIdOf(q: PgQueries, name: string): Promise<number | undefined> {
    return (await q.one<{ id: number }>(SQL.repoId, [name]))?.id;
  }

  async repositoryExists(repo: RepoName): Promise<boolean> {
    return (await this.repoIdOf(this.db, repo)) !== undefined;
  }

  async listRepositories(after: string | undefined, limit: number): Promise<string[]> {
    return (await this.db.rows<{ name: string }>(SQL.listRepos, [after ?? '', limit])).map((r) => r.name);
  }

  async repositoryBlobSize(repo: RepoName, digest: Digest): Promise<number | undefined> {
    return (await this.db.one<{ size: number }>(SQL.repoBlobSize, [repo, digest]))?.size;
  }

  async blobSize(digest: Digest): Promise<number | undefined> {
    return (await this.db.one<{ size: number }>(SQL.blobSize, [digest]))?.size;
  }

  async linkBlob(repo: RepoName, digest: Digest, size: number, now: number): Promise<void> {
    await this.serializable(async (tx) => {
      const repoId = await this.ensureRepo(tx, repo, now);
      await tx.run(SQL.insertBlob, [digest, size, now]);
      await tx.run(SQL.insertLink, [repoId, digest, now]);
    }, true);
  }

  async unlinkBlob(repo: RepoName, digest: Digest): Promise<boolean> {
    return this.serializable(async (tx) => (await tx.run(SQL.deleteLink, [repo, digest])) > 0);
  }

  async repositoryBlobSizes(repo: RepoName, digests: Digest[]): Promise<Map<Digest, number>> {
    const sizes = new Map<Digest, number>();
    if (digests.length === 0) return sizes;
    for (const row of await this.db.rows<{ digest: string; size: number }>(SQL.repoBlobSizes, [repo, [...new Set(digests)]])) {
      sizes.set(row.digest as Digest, row.size);
    }
    return sizes;
  }

  async getManifest(repo: RepoName, digest: Digest): Promise<ManifestRecord | undefined> {
    const row = await this.db.one<ManifestRow>(SQL.getManifest, [repo, digest]);
    return row && toRecord(row);
  }

  async existingManifests(repo: RepoName, digests: Digest[]): Promise<Set<Digest>> {
    if (digests.length === 0) return new Set();
    const rows = await this.db.rows<{ digest: string }>(SQL.existingManifests, [repo, [...new Set(digests)]]);
    return new Set(rows.map((r) => r.digest as Digest));
  }

  async putManifest(repo: RepoName, m: ManifestRecord, references: ManifestReference[], tag: Tag | undefined, now: number): Promise<ManifestReference | undefined> {
    const blobs = [...new Set(references.filter((r) => r.kind === 'blob').map((r) => r.digest))];
    const children = [...new Set(references.filter((r) => r.kind === 'manifest').map((r) => r.digest))];
    return this.serializable(async (tx) => {
      // The check and the writes in one serializable transaction: see the header.
      const linked = blobs.length === 0 ? new Set<string>() : new Set((await tx.rows<{ digest: string }>(SQL.repoBlobSizes, [repo, blobs])).map((r) => r.digest));
      const present = children.length === 0 ? new Set<string>() : new Set((await tx.rows<{ digest: string }>(SQL.existingManifests, [repo, children])).map((r) => r.digest));
      const missing = references.find((ref) => !(ref.kind === 'blob' ? linked : present).has(ref.digest));
      if (missing) return missing;
      const repoId = await this.ensureRepo(tx, repo, now);
      await tx.run(SQL.insertBlob, [m.digest, m.size, now]);
      await tx.run(SQL.insertManifest, [repoId, m.digest, m.mediaType, m.size, m.artifactType, m.subject, m.annotations, now]);
      if (references.length > 0) {
        await tx.run(SQL.insertReferences, [repoId, m.digest, references.map((r) => r.digest), references.map((r) => r.kind)]);
      }
      if (tag !== undefined) await tx.run(SQL.upsertTag, [repoId, tag, m.digest, now]);
      return undefined;
    }, true);
  }

  async deleteManifest(repo: RepoName, digest: Digest): Promise<boolean> {
    return this.serializable(async (tx) => {
      const repoId = await this.repoIdOf(tx, repo);
      // Tags and references go with it (ON DELETE CASCADE).
      return repoId !== undefined && (await tx.run(SQL.deleteManifest, [repoId, digest])) > 0;
    });
  }

  async deleteRepository(repo: RepoName): Promise<RepositoryRemoval | undefined> {
    return this.serializable(async (tx) => {
      const repoId = await this.repoIdOf(tx, repo);
      if (repoId === undefined) return undefined;
      // Tags first (they would go with their manifests, uncounted); references go with manifests.
      const tags = await tx.run(SQL.deleteRepoTags, [repoId]);
      const manifests = await tx.run(SQL.deleteRepoManifests, [repoId]);
      const links = await tx.run(SQL.deleteRepoLinks, [repoId]);
      await tx.run(SQL.deleteRepo, [repoId]);
      return { manifests, tags, links };
    });
  }

  async resolveTag(repo: RepoName, tag: Tag): Promise<ManifestRecord | undefined> {
    const row = await this.db.one<ManifestRow>(SQL.resolveTag, [repo, tag]);
    return row && toRecord(row);
  }

  async listTags(repo: RepoName, after: string | undefined, limit: number): Promise<string[]> {
    return (await this.db.rows<{ name: string }>(SQL.listTags, [repo, after ?? '', limit])).map((r) => r.name);
  }

  async deleteTag(repo: RepoName, tag: Tag): Promise<boolean> {
    return this.serializable(async (tx) => (await tx.run(SQL.deleteTag, [repo, tag])) > 0);
  }

  async referrers(repo: RepoName, subject: Digest): Promise<ManifestRecord[]> {
    return (await this.db.rows<ManifestRow>(SQL.referrers, [repo, subject])).map(toRecord);
  }

  async createUpload(id: string, repo: RepoName, now: number): Promise<void> {
    await this.db.run(SQL.insertUpload, [id, repo, now]);
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const row = await this.db.one<{ id: string; repository: string; created_at: number; updated_at: number }>(SQL.getUpload, [id]);
    return row && { id: row.id, repository: row.repository as RepoName, createdAt: row.created_at, updatedAt: row.updated_at };
  }

  async touchUpload(id: string, now: number): Promise<void> {
    await this.db.run(SQL.touchUpload, [now, id]);
  }

  async claimUpload(id: string, holder: string, until: number, now: number): Promise<boolean> {
    return (await this.db.run(SQL.claimUpload, [holder, until, id, now])) === 1;
  }

  async releaseUpload(id: string, holder: string): Promise<void> {
    await this.db.run(SQL.releaseUpload, [id, holder]);
  }

  async deleteUpload(id: string): Promise<void> {
    await this.db.run(SQL.deleteUpload, [id]);
  }

  /** The pool is shared by the whole index set: IndexSet.close() ends it. */
  close(): void {}
}
