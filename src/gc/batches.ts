/**
 * GC's row deletions on the live index, in small write transactions. Each batch is one
 * BEGIN IMMEDIATE transaction (the write lock is taken before the first read, so a batch
 * never fails half-way on a lock that moved), holding the lock for one batch only; between
 * batches GC pauses longer than the server's longest retry step, so a server write waiting
 * for the lock (src/storage/sqlite-writer.ts) always gets its turn before the next batch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import { MAX_RETRY_STEP_MS } from '../storage/sqlite-writer.js';

/** Rows per write transaction. */
export const BATCH_ROWS = 500;
/** Pause between two write transactions on the live index. */
export const BATCH_PAUSE_MS = MAX_RETRY_STEP_MS + 2;

export interface BatchOptions {
  /** No pause on a scratch copy (a dry run): nobody else writes there. */
  pause: boolean;
}

/**
 * Runs `write` over `rows` in batches of BATCH_ROWS, each one IMMEDIATE transaction; `after`
 * (outside the transaction, lock released) gets each batch's result before the next begins.
 */
export async function inBatches<T, R>(
  db: Database.Database,
  rows: readonly T[],
  options: BatchOptions,
  write: (batch: readonly T[]) => R,
  after?: (result: R, batch: readonly T[]) => Promise<void>,
): Promise<void> {
  const tx = db.transaction(write);
  for (let i = 0; i < rows.length; i += BATCH_ROWS) {
    if (i > 0 && options.pause) await sleep(BATCH_PAUSE_MS);
    const batch = rows.slice(i, i + BATCH_ROWS);
    const result = tx.immediate(batch) as R;
    if (after) await after(result, batch);
  }
}
