/**
 * One garbage-collection run: takes the GC lock (a second run exits at once), opens its own
 * connection to the index, collects the chosen stores and reports what it did. A dry run opens
 * the index read-only and only plans: it counts what a real run would delete and writes
 * nothing, neither rows nor content. Stores, index and lock come from wiring.ts.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Clock } from '../primitives/clock.js';
import type { GcContext } from './context.js';
import { writeLastRun } from './last-run.js';
import { collectProxy } from './proxy-gc.js';
import { collectRegistry } from './registry-gc.js';
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
        const summaries: StoreSummary[] = [];
        if (options.stores !== 'proxy') summaries.push(await collectRegistry(ctx, stores.registry, { deleteUntagged: options.deleteUntagged }));
        if (options.stores !== 'registry') summaries.push(await collectProxy(ctx, stores.proxy));
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
