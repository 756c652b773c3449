// Migration 010 on an index that already holds data (SQLite and PostgreSQL): the listings'
// figures are filled from the rows there, and from then on the triggers keep them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import Database from 'better-sqlite3';
import type { RepoName } from '../../src/primitives/types.js';
import type { BrowseIndex } from '../../src/storage/browse-index.js';
import type { ProxyBrowseIndex } from '../../src/storage/proxy-browse-index.js';
import { migratePg } from '../../src/storage/pg/pg-migrations.js';
import { PgBrowseIndex } from '../../src/storage/pg/pg-browse-index.js';
import { PgPool } from '../../src/storage/pg/pg-pool.js';
import { PG_MIGRATIONS } from '../../src/storage/pg/pg-schema.js';
import { up as m001 } from '../../src/storage/sqlite/migrations/001-initial.js';
import { up as m002 } from '../../src/storage/sqlite/migrations/002-proxy-cache.js';
import { up as m003 } from '../../src/storage/sqlite/migrations/003-gc-indexes.js';
import { up as m004 } from '../../src/storage/sqlite/migrations/004-proxy-blob-repositories.js';
import { up as m005 } from '../../src/storage/sqlite/migrations/005-replicas.js';
import { up as m006 } from '../../src/storage/sqlite/migrations/006-gc-last-run.js';
import { up as m007 } from '../../src/storage/sqlite/migrations/007-scale.js';
import { up as m008 } from '../../src/storage/sqlite/migrations/008-drop-unused-index.js';
import { up as m009 } from '../../src/storage/sqlite/migrations/009-proxy-pins.js';
import { SqliteBrowseIndex } from '../../src/storage/sqlite/sqlite-browse-index.js';
import { openDatabase } from '../../src/storage/sqlite/sqlite-index.js';
import { SqliteWriter } from '../../src/storage/sqlite/sqlite-writer.js';
import { ManualClock } from '../support/manual-clock.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';

jest.setTimeout(120_000);

const d = (c: string): string => `sha256:${c.repeat(64)}`;

/** Rows as Keel before 010 left them: a repository with an image, one with a link only, a cached image. */
const EXISTING = [
  `INSERT INTO repositories (id, name, created_at) VALUES (1, 'team/app', 1000), (2, 'team/links-only', 1000)`,
  `INSERT INTO blobs (digest, size, created_at) VALUES ('${d('1')}', 100, 1000), ('${d('2')}', 200, 1000), ('${d('3')}', 10, 1000), ('${d('4')}', 5, 1000)`,
  `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (1, '${d('1')}', 1000), (1, '${d('2')}', 1000), (2, '${d('4')}', 1000)`,
  `INSERT INTO manifests (repository_id, digest, media_type, size, created_at) VALUES (1, '${d('3')}', 'application/vnd.oci.image.manifest.v1+json', 10, 5000)`,
  `INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, kind) VALUES (1, '${d('3')}', '${d('1')}', 'blob'), (1, '${d('3')}', '${d('2')}', 'blob')`,
  `INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (1, 'v1', '${d('3')}', 6000), (1, 'v2', '${d('3')}', 5500)`,
  `INSERT INTO proxy_blobs (upstream, digest, size, fetched_at, last_access) VALUES ('hub', '${d('a')}', 1000, 1000, 1000)`,
  `INSERT INTO proxy_manifests (upstream, repository, digest, media_type, size, fetched_at, last_access) VALUES ('hub', 'library/x', '${d('b')}', 'application/vnd.oci.image.manifest.v1+json', 50, 1000, 7000)`,
  `INSERT INTO proxy_blob_repositories (upstream, repository, digest, created_at) VALUES ('hub', 'library/x', '${d('a')}', 1000)`,
  `INSERT INTO proxy_tags (upstream, repository, tag, digest, checked_at, last_access) VALUES ('hub', 'library/x', 'latest', '${d('b')}', 1000, 8000)`,
];

async function expectFilled(browse: BrowseIndex & ProxyBrowseIndex): Promise<void> {
  expect(await browse.listRepositories({ sort: 'name', order: 'asc', limit: 10 })).toEqual([
    { name: 'team/app', manifests: 1, tags: 2, bytes: 100 + 200 + 10, pushedAt: 6000, pulledAt: 0 },
  ]);
  expect(await browse.listProxyRepositories({ sort: 'name', order: 'asc', limit: 10 })).toEqual([
    { upstream: 'hub', repository: 'library/x', manifests: 1, tags: 1, bytes: 50 + 1000, lastReadAt: 8000 },
  ]);
  expect((await browse.listTags('team/app' as RepoName, { sort: 'date', order: 'desc', limit: 10 })).map((t) => [t.tag, t.imageBytes])).toEqual([
    ['v1', 310],
    ['v2', 310],
  ]);
}

describe('SQLite', () => {
  test('010 fills the figures from the rows already there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keel-browse-migration-'));
    try {
      const path = join(dir, 'index.db');
      const old = new Database(path);
      old.pragma('foreign_keys = ON');
      for (const up of [m001, m002, m003, m004, m005, m006, m007, m008, m009]) old.exec(up);
      old.pragma('user_version = 9');
      for (const sql of EXISTING) old.exec(sql);
      old.close();
      const db = openDatabase(path);
      try {
        expect(db.pragma('user_version', { simple: true })).toBe(10);
        await expectFilled(new SqliteBrowseIndex(db, new SqliteWriter(db, { clock: new ManualClock(0) })));
      } finally {
        db.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('PostgreSQL', () => {
  let postgres: PostgresServer | undefined;
  beforeAll(async () => {
    postgres = await startPostgres();
  });
  afterAll(async () => {
    await postgres?.stop();
  });

  test('010 fills the figures from the rows already there', async () => {
    if (!postgres) throw new Error('PostgreSQL did not start (see beforeAll)');
    const pool = new PgPool(await postgres.createDatabase(), { max: 2 });
    try {
      const clock = new ManualClock(0);
      expect((await migratePg(pool, clock, PG_MIGRATIONS.slice(0, 9))).to).toBe(9);
      for (const sql of EXISTING) await pool.run(sql);
      expect((await migratePg(pool, clock)).applied).toEqual([10]);
      await expectFilled(new PgBrowseIndex(pool));
    } finally {
      await pool.end();
    }
  });
});
