/**
 * One garbage-collection run: takes the GC lock (a second run exits at once), opens its own
 * connection to the index, collects the chosen stores and reports what it did. A dry run
 * works on a snapshot of the index (VACUUM INTO a temporary file) and touches no file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Clock } from '../shared/clock.js';
import { gcQueries } from '../storage/sqlite-gc-queries.js';
import { openDatabase } from '../storage/sqlite-index.js';
import type { GcContext } from './context.js';
import { writeLastRun } from './last-run.js';
import { collectProxy } from './proxy-gc.js';
import { collectRegistry } from './registry-gc.js';
import { silentProgress, type GcItem, type GcSummary, type Progress, type StoreSummary } from './summary.js';

export interface GcOptions {
  stores: 'registry' | 'proxy' | 'all';
  dryRun: boolean;
  deleteUntagged: boolean;
  /** Overrides gc.grace for this run (milliseconds): `--grace 0s` frees what a recent delete left. */
  grace?: number;
  /** Collect every deleted (or would-be-deleted) item into the summary (--verbose / --list). */
  list?: boolean;
}

export class GcLockedError extends Error {
  constructor(readonly lockPath: string) {
    super(`another garbage collection is running (lock ${lockPath}); not starting a second one`);
    this.name = 'GcLockedError';
  }
}

export function gcLockPath(config: Config): string {
  return `${config.database}.gc.lock`;
}

export async function runGc(config: Config, options: GcOptions, deps: { clock: Clock; logger: Logger; progress?: Progress }): Promise<GcSummary> {
  const started = deps.clock.now();
  const lockPath = gcLockPath(config);
  let release: () => Promise<void>;
  try {
    // The lock refreshes its mtime while held; one left by a crashed run is stale after a minute.
    release = await lockfile.lock(config.database, { lockfilePath: lockPath, realpath: false, stale: 60_000, update: 10_000, retries: 0 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw new GcLockedError(lockPath);
    throw err;
  }
  let scratch: string | undefined;
  const live = openDatabase(config.database);
  let db = live;
  try {
    if (options.dryRun) {
      scratch = await mkdtemp(join(tmpdir(), 'keel-gc-dry-run-'));
      live.exec(`VACUUM INTO '${join(scratch, 'index.db').replaceAll("'", "''")}'`);
      db = openDatabase(join(scratch, 'index.db'));
    }
    const grace = options.grace ?? config.gc.grace;
    const items: GcItem[] | undefined = options.list ? [] : undefined;
    const ctx: GcContext = {
      db,
      q: gcQueries(db),
      config,
      logger: deps.logger,
      progress: deps.progress ?? silentProgress,
      now: started,
      grace,
      dryRun: options.dryRun,
      ...(items ? { items } : {}),
    };
    deps.logger.info({ stores: options.stores, dry_run: options.dryRun, delete_untagged: options.deleteUntagged, grace_ms: grace }, 'gc: started');
    const stores: StoreSummary[] = [];
    if (options.stores !== 'proxy') stores.push(await collectRegistry(ctx, { deleteUntagged: options.deleteUntagged }));
    if (options.stores !== 'registry') stores.push(await collectProxy(ctx));
    const summary: GcSummary = { dryRun: options.dryRun, durationMs: deps.clock.now() - started, graceMs: grace, stores };
    if (!options.dryRun) await writeLastRun(config.database, { ...summary, finishedAt: deps.clock.now() });
    if (items) summary.items = items;
    deps.logger.info({ duration_ms: summary.durationMs, dry_run: options.dryRun }, 'gc: finished');
    return summary;
  } finally {
    if (db !== live) db.close();
    live.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
    await release();
  }
}
