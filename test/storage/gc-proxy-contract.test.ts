// The GC index, GC lock and proxy index contracts (test/storage/index-contract/gc-*.contract.ts,
// proxy-index.contract.ts) on both databases: SQLite on a temp file, and a real PostgreSQL 15
// with a fresh database per test, a second pool as another replica, and a third connection
// that stops a transaction at a chosen write (a table lock), so a manifest PUT and a GC delete
// batch interleave at statement level.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, jest } from '@jest/globals';
import pg from 'pg';
import { FileGcLock } from '../../src/gc/file-gc-lock.js';
import { systemClock } from '../../src/primitives/clock.js';
import { openIndexes } from '../../src/storage/indexes.js';
import { PgGcIndex } from '../../src/storage/pg/pg-gc-index.js';
import { PgGcLock } from '../../src/storage/pg/pg-gc-lock.js';
import { PG_LOCK_KEYS } from '../../src/storage/pg/pg-lock-keys.js';
import { SqliteGcIndex } from '../../src/storage/sqlite/sqlite-gc-queries.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { browseIndexContract } from './index-contract/browse-index.contract.js';
import { until, type HeldWrites, type MakeGcIndex } from './index-contract/gc-fixture.js';
import { gcIndexContract } from './index-contract/gc-index.contract.js';
import { gcLockContract } from './index-contract/gc-lock.contract.js';
import { proxyIndexContract } from './index-contract/proxy-index.contract.js';

jest.setTimeout(120_000);

let server: PostgresServer | undefined;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

const makeSqlite: MakeGcIndex = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keel-gc-contract-'));
  const path = join(dir, 'index.db');
  const open = () => openIndexes({ kind: 'sqlite', path }, { clock: systemClock });
  const indexes = await open();
  return {
    indexes,
    openReplica: open,
    openGc: async (options) => SqliteGcIndex.open(path, options),
    gcLock: () => new FileGcLock(path),
    cleanup: async () => {
      await indexes.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

/** How pg_locks shows a bigint advisory key: high and low 32 bits, objsubid 1. */
const GC_KEY = { high: (PG_LOCK_KEYS.gc >> 32n).toString(), low: (PG_LOCK_KEYS.gc & 0xffffffffn).toString() };

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

const makePg: MakeGcIndex = async () => {
  if (server === undefined) throw new Error('PostgreSQL did not start (see beforeAll)');
  const url = await server.createDatabase();
  const open = () => openIndexes({ kind: 'postgres', url }, { clock: systemClock, poolSize: 4 });
  const indexes = await open();
  const admin = await connect(url);
  const gcLockHolders = async (): Promise<number[]> =>
    (
      await admin.query<{ pid: number }>(
        `SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE l.locktype = 'advisory' AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 1 AND l.granted AND d.datname = current_database()`,
        [GC_KEY.high, GC_KEY.low],
      )
    ).rows.map((r) => r.pid);
  return {
    indexes,
    openReplica: open,
    openGc: (options) => PgGcIndex.open(url, { ...options, clock: systemClock }),
    gcLock: () => new PgGcLock(url),
    async holdWrites(table: string): Promise<HeldWrites> {
      const holder = await connect(url);
      await holder.query('BEGIN');
      // SHARE: every INSERT, UPDATE and DELETE on the table waits; SELECTs go on.
      await holder.query(`LOCK TABLE ${pg.escapeIdentifier(table)} IN SHARE MODE`);
      return {
        async waiting() {
          const { rows } = await admin.query<{ n: string }>(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
          );
          return Number(rows[0]?.n ?? 0);
        },
        async release() {
          await holder.query('COMMIT');
          await holder.end();
        },
      };
    },
    async endGcLockSession() {
      const holders = await gcLockHolders();
      if (holders.length !== 1) throw new Error(`expected one session holding the GC lock, found ${holders.length}`);
      await admin.query('SELECT pg_terminate_backend($1)', [holders[0]]);
      await until(async () => (await gcLockHolders()).length === 0, 'the terminated session lets go of the GC lock');
    },
    async cleanup() {
      await admin.end();
      await indexes.close();
    },
  };
};

gcIndexContract('SQLite', makeSqlite);
gcIndexContract('PostgreSQL', makePg);
gcLockContract('SQLite', makeSqlite, { lockName: /index\.db\.gc\.lock$/, sessionBound: false });
gcLockContract('PostgreSQL', makePg, { lockName: /^PostgreSQL advisory lock \d+ on 127\.0\.0\.1:\d+\/keel_\d+$/, sessionBound: true });
proxyIndexContract('SQLite', makeSqlite);
proxyIndexContract('PostgreSQL', makePg);
browseIndexContract('SQLite', makeSqlite);
browseIndexContract('PostgreSQL', makePg);
