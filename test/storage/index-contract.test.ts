// The index contracts (test/storage/index-contract/) on both databases Keel supports: SQLite
// on a temp file, and a real PostgreSQL 15 (test/support/postgres.ts) with a fresh database
// per test. "Another process" is a second IndexSet on the same file or database, with its
// own connections, opened the way the server opens its index (storage/indexes.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, jest } from '@jest/globals';
import type { IndexSet } from '../../src/storage/index-set.js';
import { openIndexes, type IndexLocation } from '../../src/storage/indexes.js';
import { ManualClock } from '../support/manual-clock.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { coordinationContract } from './index-contract/coordination.contract.js';
import type { IndexUnderTest } from './index-contract/index-factory.js';
import { registryIndexContract } from './index-contract/registry-index.contract.js';

jest.setTimeout(120_000);

let postgres: PostgresServer | undefined;

beforeAll(async () => {
  postgres = await startPostgres();
});

afterAll(async () => {
  await postgres?.stop();
});

async function underTest(location: IndexLocation, removeAll: () => Promise<void>): Promise<IndexUnderTest> {
  const clock = new ManualClock(1_700_000_000_000);
  const open: IndexSet[] = [];
  const openOne = async (): Promise<IndexSet> => {
    const set = await openIndexes(location, { clock, poolSize: 4 });
    open.push(set);
    return set;
  };
  const indexes = await openOne();
  return {
    indexes,
    clock,
    another: openOne,
    cleanup: async () => {
      await Promise.all(open.map((set) => set.close()));
      await removeAll();
    },
  };
}

async function sqlite(): Promise<IndexUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'keel-index-contract-'));
  return underTest({ kind: 'sqlite', path: join(dir, 'index.db') }, () => rm(dir, { recursive: true, force: true }));
}

async function pg(): Promise<IndexUnderTest> {
  if (postgres === undefined) throw new Error('PostgreSQL did not start (see beforeAll)');
  return underTest({ kind: 'postgres', url: await postgres.createDatabase() }, async () => undefined);
}

registryIndexContract('SQLite', sqlite);
registryIndexContract('PostgreSQL', pg);
coordinationContract('SQLite', sqlite);
coordinationContract('PostgreSQL', pg);
