/**
 * One garbage-collection run: takes the GC lock (a second run exits at once), opens its own
 * connection to the index, collects the chosen stores (the proxy cache while the registry's
 * plan is made) and reports what it did. A dry run opens
 * the index read-only and only plans: it counts what a real run would delete and writes
 * nothing, neither rows nor content. Stores, index and lock come from wiring.ts.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Clock } from '../primitives/clock.js';
import type { GcContext } from './context.js';
import { writeLastRun } from './last-run.js';
import { collectProxy } from './proxy-gc.js';
import { collectRegistry, sortStoreItems } from './registry-gc.js';
import { silentProgress, type GcItem, type GcSummary, type Progress, type StoreSummary } from './summary.js';
import { gcLock, gcStores, openGcIndex } from './wiring.js';

export { GcLockedError } from '../storage/gc-lock.js';

export interface GcOptions {
  stores: 'registry' | 'proxy' | 'all';
  dryRun: boolean;
  deleteUntagged: boolean;
  /** Overrides gc.grace for this run (milliseconds): `--grace 0s` frees what a recent delete left. */
  grace?: number;
  /** Collect every deleted (or would-be-deleted) item into the summary (--verbose / --list). */
  list?: boolean;
}

export async function runGc(config: Config, options: GcOptions, deps: { clock: Clock; logger: Logger; progress?: Progress }): Promise<GcSummary> {
  const started = deps.clock.now();
  const lock = gcLock(config);
  await lock.acquire();
  try {
    const index = await openGcIndex(config, { readonly: options.dryRun, clock: deps.clock });
    try {
      const stores = await gcStores(config);
      try {
        const grace = options.grace ?? config.gc.grace;
        const items: GcItem[] | undefined = options.list ? [] : undefined;
        const ctx: GcContext = {
          index,
          config,
          logger: deps.logger,
          progress: deps.progress ?? silentProgress,
          clock: deps.clock,
          now: started,
          grace,
          dryRun: options.dryRun,
          leftoversSeen: new Set(),
          ...(items ? { items } : {}),
        };
        deps.logger.info({ stores: options.stores, dry_run: options.dryRun, delete_untagged: options.deleteUntagged, grace_ms: grace }, 'gc: started');
        // The proxy cache is collected while the registry's plan is made (after the registry's
        // orphans, before its deletes); the registry's deletes re-check every row, as always.
        let proxy: StoreSummary | undefined;
        const collectCache = async (): Promise<void> => {
          proxy = await collectProxy(ctx, stores.proxy);
        };
        const registry = options.stores === 'proxy' ? undefined : await collectRegistry(ctx, stores.registry, { deleteUntagged: options.deleteUntagged, ...(options.stores === 'all' ? { meanwhile: collectCache } : {}) });
        if (options.stores === 'proxy') await collectCache();
        const summaries = [registry, proxy].filter((s): s is StoreSummary => s !== undefined);
        // Listed as before: the registry's items first (sortStoreItems puts a store's last).
        if (items) sortStoreItems(items, 'proxy');
        const summary: GcSummary = { dryRun: options.dryRun, durationMs: deps.clock.now() - started, graceMs: grace, stores: summaries };
        if (!options.dryRun) await writeLastRun(index.lastRun, { ...summary, finishedAt: deps.clock.now() });
        if (items) summary.items = items;
        deps.logger.info({ duration_ms: summary.durationMs, dry_run: options.dryRun }, 'gc: finished');
        return summary;
      } finally {
        await stores.close();
      }
    } finally {
      await index.close();
    }
  } finally {
    await lock.release();
  }
}
