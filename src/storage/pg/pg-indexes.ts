/**
 * The index on PostgreSQL, shared by every replica on the database: the pool, its migration,
 * and the parts of the IndexSet. Imported by storage/indexes.ts only when `database` names a
 * PostgreSQL URL.
 */
import type { IndexDeps, OpenIndexDeps } from '../index-deps.js';
import type { IndexSet } from '../index-set.js';
import { IndexOpenError } from '../index-open-error.js';
import { PgBrowseIndex } from './pg-browse-index.js';
import { PgDownloadLeases } from './pg-download-leases.js';
import { PgGcLastRun } from './pg-gc-last-run.js';
import { describePgOpenFailure } from './pg-open-failure.js';
import { migratePg } from './pg-migrations.js';
import { PgPool } from './pg-pool.js';
import { PgProxyIndex } from './pg-proxy-index.js';
import { PgRegistryIndex } from './pg-registry-index.js';
import { PgSharedSecrets } from './pg-shared-secrets.js';
import { PgStats } from './pg-stats.js';

const DEFAULT_POOL_SIZE = 10;

/** Opens a pool on `url` and migrates the database; a failure is one IndexOpenError line. */
export async function openPgIndexes(url: string, deps: OpenIndexDeps): Promise<IndexSet> {
  const pool = new PgPool(url, { max: deps.poolSize ?? DEFAULT_POOL_SIZE, ...(deps.onIdleError ? { onIdleError: deps.onIdleError } : {}) });
  try {
    await migratePg(pool, deps.clock);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new IndexOpenError(describePgOpenFailure(err), { cause: err });
  }
  return pgIndexes(pool, deps);
}

/** The PostgreSQL index on a migrated pool, shared with every other replica on the database. `close()` ends the pool. */
export function pgIndexes(pool: PgPool, deps: IndexDeps): IndexSet {
  const browse = new PgBrowseIndex(pool);
  return {
    kind: 'postgres',
    shared: true,
    registry: new PgRegistryIndex(pool),
    proxy: new PgProxyIndex(pool),
    browse,
    proxyBrowse: browse,
    stats: new PgStats(pool),
    leases: new PgDownloadLeases(pool),
    secrets: new PgSharedSecrets(pool, deps.clock),
    lastGcRun: new PgGcLastRun(pool),
    close: () => pool.end(),
  };
}
