/**
 * The one switch point for the index: which database backs the registry index, the proxy
 * index, the stats, the download leases and the shared secrets. SQLite on local disk is the
 * embedded default; several replicas share one PostgreSQL (issue 18). The PostgreSQL side
 * (pg/pg-indexes.ts) is imported only when `database` names it: `pg` and Keel's PostgreSQL
 * modules are about 15 MiB of resident memory a SQLite Keel never uses.
 */
import type Database from 'better-sqlite3';
import type { IndexSet } from './index-set.js';
import type { IndexDeps, OpenIndexDeps } from './index-deps.js';
import { IndexOpenError } from './index-open-error.js';
import { SqliteBrowseIndex } from './sqlite/sqlite-browse-index.js';
import { SqliteDownloadLeases } from './sqlite/sqlite-download-leases.js';
import { SqliteIndex, openDatabase } from './sqlite/sqlite-index.js';
import { FileLastGcRun } from './sqlite/sqlite-last-gc-run.js';
import { SqliteProxyIndex } from './sqlite/sqlite-proxy-index.js';
import { SqliteSharedSecrets } from './sqlite/sqlite-shared-secrets.js';
import { SqliteStats } from './sqlite/sqlite-stats.js';
import { SqliteWriter } from './sqlite/sqlite-writer.js';

/** What `database` names (config.index has this shape; storage does not import config). */
export type IndexLocation = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

export type { IndexDeps, OpenIndexDeps };

export { IndexOpenError };

/** Opens (and migrates) the index `location` names. */
export async function openIndexes(location: IndexLocation, deps: OpenIndexDeps): Promise<IndexSet> {
  if (location.kind === 'sqlite') {
    let db: Database.Database;
    try {
      // No sleeping inside SQLite on the server's thread: writes wait for the lock in SqliteWriter.
      db = openDatabase(location.path, { busyTimeoutMs: 0 });
    } catch (err) {
      throw new IndexOpenError(`cannot open it as the SQLite index (${(err as Error).message}); restore it from a backup or set database (KEEL_DATABASE) to a new file`, { cause: err });
    }
    return sqliteIndexes(db, deps);
  }
  const { openPgIndexes } = await import('./pg/pg-indexes.js');
  return openPgIndexes(location.url, deps);
}

/** The SQLite index on an open database (the server opens it with busy_timeout 0). */
export function sqliteIndexes(db: Database.Database, deps: IndexDeps): IndexSet {
  // One writer for every part: they share the database and its write lock.
  const writer = new SqliteWriter(db, { clock: deps.clock, ...(deps.onWriteWait ? { onWait: deps.onWriteWait } : {}) });
  const registry = new SqliteIndex(db, writer);
  const browse = new SqliteBrowseIndex(db, writer);
  return {
    kind: 'sqlite',
    shared: false,
    registry,
    proxy: new SqliteProxyIndex(db, writer),
    browse,
    proxyBrowse: browse,
    stats: new SqliteStats(db),
    leases: new SqliteDownloadLeases(db, writer),
    secrets: new SqliteSharedSecrets(db, writer, deps.clock),
    lastGcRun: new FileLastGcRun(db.name),
    close: async () => registry.close(),
  };
}

export { openDatabase };
