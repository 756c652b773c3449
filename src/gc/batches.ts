/**
 * GC's row deletions on the live index, in short write transactions. Each batch is one write
 * transaction of the index (GcIndex's delete methods), holding the lock for one batch only;
 * between batches GC pauses for the index's batchPauseMs, longer than the server's longest
 * retry step, so a server write waiting for the lock always gets its turn before the next batch.
 *
 * A batch is sized by time, not by a fixed count: rows cost from ~10 µs (a proxy tag) to
 * ~150 µs (a cached manifest and its references) to delete. The first batch has BATCH_ROWS
 * rows; each next one as many as the last one's pace fits in BATCH_HOLD_MS, between
 * MIN_BATCH_ROWS and MAX_BATCH_ROWS. So a server write waits for at most about one such hold,
 * and a large run does not spend most of its time in pauses (half a million proxy blobs in
 * batches of 500 paused 1,000 times).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../primitives/clock.js';
import type { GcContext } from './context.js';

/** Rows of the first write transaction, and per batch of the lookups that are not writes. */
export const BATCH_ROWS = 500;
export const MIN_BATCH_ROWS = 50;
export const MAX_BATCH_ROWS = 5_000;
/** How long one write transaction of GC aims to hold the index's write lock. */
export const BATCH_HOLD_MS = 50;

export interface BatchPacing {
  /** The pause between two write transactions (the index's batchPauseMs). */
  pauseMs: number;
  /** Times each batch, to size the next one. */
  clock: Clock;
}

/** The pacing of a run's write batches on its index. */
export function pacing(ctx: Pick<GcContext, 'index' | 'clock'>): BatchPacing {
  return { pauseMs: ctx.index.batchPauseMs, clock: ctx.clock };
}

/** Rows for the next batch: as many as the last batch's pace fits in BATCH_HOLD_MS. */
export function nextBatchSize(rows: number, elapsedMs: number): number {
  const fit = elapsedMs > 0 ? Math.floor((rows * BATCH_HOLD_MS) / elapsedMs) : MAX_BATCH_ROWS;
  return Math.min(MAX_BATCH_ROWS, Math.max(MIN_BATCH_ROWS, fit));
}

/**
 * Runs `write` over `rows` in batches (sized as above), pausing `pacing.pauseMs` between two;
 * `after` (lock released) gets each batch's result before the next begins. Returns every result.
 */
export async function inBatches<T, R>(
  rows: readonly T[],
  pacing: BatchPacing,
  write: (batch: readonly T[]) => Promise<R>,
  after?: (result: R, batch: readonly T[]) => Promise<void>,
): Promise<R[]> {
  const results: R[] = [];
  let size = BATCH_ROWS;
  for (let i = 0; i < rows.length; ) {
    if (i > 0) await sleep(pacing.pauseMs);
    const batch = rows.slice(i, i + size);
    const started = pacing.clock.now();
    const result = await write(batch);
    size = nextBatchSize(batch.length, pacing.clock.now() - started);
    i += batch.length;
    results.push(result);
    if (after) await after(result, batch);
  }
  return results;
}
