/**
 * GC's row deletions on the live index, in small write transactions. Each batch is one write
 * transaction of the index (GcIndex's delete methods), holding the lock for one batch only;
 * between batches GC pauses for the index's batchPauseMs, longer than the server's longest
 * retry step, so a server write waiting for the lock always gets its turn before the next batch.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Rows per write transaction. */
export const BATCH_ROWS = 500;

/**
 * Runs `write` over `rows` in batches of BATCH_ROWS, pausing `pauseMs` between two; `after`
 * (lock released) gets each batch's result before the next begins. Returns every result.
 */
export async function inBatches<T, R>(
  rows: readonly T[],
  pauseMs: number,
  write: (batch: readonly T[]) => Promise<R>,
  after?: (result: R, batch: readonly T[]) => Promise<void>,
): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < rows.length; i += BATCH_ROWS) {
    if (i > 0) await sleep(pauseMs);
    const batch = rows.slice(i, i + BATCH_ROWS);
    const result = await write(batch);
    results.push(result);
    if (after) await after(result, batch);
  }
  return results;
}
