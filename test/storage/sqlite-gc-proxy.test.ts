/** The GC index, GC lock and proxy index contract suites on SQLite (a file per test). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileGcLock } from '../../src/gc/file-gc-lock.js';
import { systemClock } from '../../src/primitives/clock.js';
import { openDatabase, sqliteIndexes } from '../../src/storage/indexes.js';
import { SqliteGcIndex } from '../../src/storage/sqlite/sqlite-gc-queries.js';
import type { MakeGcIndex } from './index-contract/gc-fixture.js';
import { gcIndexContract } from './index-contract/gc-index.contract.js';
import { gcLockContract } from './index-contract/gc-lock.contract.js';
import { proxyIndexContract } from './index-contract/proxy-index.contract.js';

const makeSqlite: MakeGcIndex = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keel-gc-contract-'));
  const path = join(dir, 'index.db');
  const open = () => sqliteIndexes(openDatabase(path, { busyTimeoutMs: 0 }), { clock: systemClock });
  const indexes = open();
  return {
    indexes,
    openReplica: async () => open(),
    openGc: (options) => SqliteGcIndex.open(path, options),
    gcLock: () => new FileGcLock(path),
    cleanup: async () => {
      await indexes.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

gcIndexContract('SQLite', makeSqlite);
gcLockContract('SQLite', makeSqlite, { lockName: /index\.db\.gc\.lock$/, sessionBound: false });
proxyIndexContract('SQLite', makeSqlite);
