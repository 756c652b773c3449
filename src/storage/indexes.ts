/**
 * The one switch point for the index: which database backs the registry index, the proxy
 * index, the stats, the download leases and the shared secrets. SQLite on local disk is the
 * embedded default; several replicas share one PostgreSQL (issue 18).
 */
import type Database from 'better-sqlite3';
import type { Clock } from '../primitives/clock.js';
import type { IndexSet } from './index-set.js';
import { SqliteDownloadLeases } from './sqlite/sqlite-download-leases.js';
import { SqliteIndex, openDatabase } from './sqlite/sqlite-index.js';
import { FileLastGcRun } from './sqlite/sqlite-last-gc-run.js';
import { SqliteProxyIndex } from './sqlite/sqlite-proxy-index.js';
import { SqliteSharedSecrets } from './sqlite/sqlite-shared-secrets.js';
import { SqliteStats } from './sqlite/sqlite-stats.js';
import { SqliteWriter } from './sqlite/sqlite-writer.js';

export interface IndexDeps {
  clock: Clock;
  /** Called once for each write that found the index locked and had to wait (metrics). */
  onWriteWait?: () => void;
}

/** The SQLite index on an open database (the server opens it with busy_timeout 0). */
export function sqliteIndexes(db: Database.Database, deps: IndexDeps): IndexSet {
  // One writer for every part: they share the database and its write lock.
  const writer = new SqliteWriter(db, { clock: deps.clock, ...(deps.onWriteWait ? { onWait: deps.onWriteWait } : {}) });
  const registry = new SqliteIndex(db, writer);
  return {
    kind: 'sqlite',
    shared: false,
    registry,
    proxy: new SqliteProxyIndex(db, writer),
    stats: new SqliteStats(db),
    leases: new SqliteDownloadLeases(db, writer),
    secrets: new SqliteSharedSecrets(db, writer, deps.clock),
    lastGcRun: new FileLastGcRun(db.name),
    close: async () => registry.close(),
  };
}

export { openDatabase };
