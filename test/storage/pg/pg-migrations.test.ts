// The PostgreSQL schema and its migrations against a real PostgreSQL 15: every table of the
// SQLite schema is there with the same columns; replicas migrating one fresh database at the
// same moment apply each version exactly once; a second start applies nothing.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { systemClock } from '../../../src/primitives/clock.js';
import { migratePg } from '../../../src/storage/pg/pg-migrations.js';
import { PgPool } from '../../../src/storage/pg/pg-pool.js';
import { PG_MIGRATIONS } from '../../../src/storage/pg/pg-schema.js';
import { openDatabase } from '../../../src/storage/sqlite/sqlite-index.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';

jest.setTimeout(120_000);

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

describe('PostgreSQL migrations', () => {
  test('five pools migrating one fresh database at once apply every version exactly once', async () => {
    const url = await server.createDatabase();
    const pools = Array.from({ length: 5 }, () => new PgPool(url, { max: 2 }));
    try {
      const results = await Promise.all(pools.map((p) => migratePg(p, systemClock)));
      const applied = results.flatMap((r) => r.applied).sort((a, b) => a - b);
      expect(applied).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
      // Exactly one of them did the work; the others found the database current.
      expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
      expect(results.every((r) => r.to === PG_MIGRATIONS.length)).toBe(true);
      const versions = await pools[0]!.rows<{ version: number }>('SELECT version FROM keel_schema_migrations ORDER BY version');
      expect(versions.map((v) => v.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));

      const again = await migratePg(pools[1]!, systemClock);
      expect(again).toEqual({ from: PG_MIGRATIONS.length, to: PG_MIGRATIONS.length, applied: [] });
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  test('the PostgreSQL schema has every table and column of the SQLite schema', async () => {
    const url = await server.createDatabase();
    const pool = new PgPool(url, { max: 1 });
    const sqlite = openDatabase(':memory:');
    try {
      await migratePg(pool, systemClock);
      const pgColumns = await pool.rows<{ table_name: string; column_name: string }>(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name NOT IN ('keel_schema_migrations', 'gc_last_run')",
      );
      const pgSet = new Set(pgColumns.map((c) => `${c.table_name}.${c.column_name}`));
      // Not compared: SQLite's own statistics tables (sqlite_stat*), and store_totals, SQLite's
      // trigger-kept /metrics figures (pg-schema.ts, migration 007, says why PostgreSQL has none).
      const tables = sqlite
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'store_totals'")
        .all();
      const sqliteSet = new Set(tables.flatMap((t) => sqlite.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${t.name}')`).all().map((c) => `${t.name}.${c.name}`)));
      expect([...pgSet].sort()).toEqual([...sqliteSet].sort());
      expect(sqliteSet.has('download_leases.holder_url')).toBe(true);
      expect(sqliteSet.has('uploads.claimed_until')).toBe(true);

      const pgIndexes = await pool.rows<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'");
      const sqliteIndexes = sqlite.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'").all();
      expect(pgIndexes.map((i) => i.indexname).sort()).toEqual(sqliteIndexes.map((i) => i.name).sort());
    } finally {
      sqlite.close();
      await pool.end();
    }
  });

  test('BIGINT columns come back as numbers, and a failed migration leaves the old version', async () => {
    const url = await server.createDatabase();
    const pool = new PgPool(url, { max: 1 });
    try {
      await migratePg(pool, systemClock, PG_MIGRATIONS.slice(0, 1));
      await expect(migratePg(pool, systemClock, [...PG_MIGRATIONS.slice(0, 1), 'CREATE TABLE ok_so_far (x INT);', 'SELECT no_such_column FROM blobs'])).rejects.toThrow(/no_such_column/);
      const tables = await pool.rows<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE tablename = 'ok_so_far'");
      expect(tables).toEqual([]);
      const version = await pool.one<{ v: number }>('SELECT max(version) AS v FROM keel_schema_migrations');
      expect(version?.v).toBe(1);
      await pool.run('INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3)', ['sha256:x', 2 ** 40, 1_700_000_000_000]);
      const row = await pool.one<{ size: number; created_at: number }>('SELECT size, created_at FROM blobs');
      expect(row).toEqual({ size: 2 ** 40, created_at: 1_700_000_000_000 });
    } finally {
      await pool.end();
    }
  });
});
