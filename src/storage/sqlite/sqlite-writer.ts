/**
 * How the server writes to the SQLite index, which other processes (`scripts/gc`, a second
 * Keel) write to as well. better-sqlite3 is synchronous: a busy_timeout would make the one
 * thread sleep inside SQLite while another process holds the write lock, and every request
 * would stall with it. So the server's connection has busy_timeout 0 and every write is a
 * `BEGIN IMMEDIATE` transaction: it takes the write lock before its first read (a deferred
 * transaction that reads and then writes fails at once, without waiting, if the lock moved
 * in between) or fails at once with SQLITE_BUSY. A busy write is tried again after a short
 * timer, so other requests run meanwhile, until `maxWaitMs` (read on the injected clock)
 * has passed; then it is refused with 503 UNAVAILABLE and a Retry-After, never a 500. A write
 * that finds the disk full throws a StorageFullError (storage-errors.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import type { Clock } from '../../primitives/clock.js';
import { RetryLaterError } from '../../primitives/errors.js';
import { asStorageError } from '../storage-errors.js';

/** How long a write waits for the lock before it is refused, unless the writer is told otherwise. */
export const INDEX_WRITE_WAIT_MS = 10_000;
/**
 * The longest pause between two tries. GC pauses longer than this between its batches
 * (src/gc/batches.ts), so a waiting write always gets a turn; kept short, since every one of
 * GC's pauses lasts this long (a try that finds the lock taken fails at once, in microseconds).
 */
export const MAX_RETRY_STEP_MS = 4;

export interface SqliteWriterOptions {
  clock: Clock;
  /** Waiting longer than this for the write lock gives a RetryLaterError. */
  maxWaitMs?: number;
  /** Called once for each write that found the index locked and has to wait (metrics). */
  onWait?: () => void;
}

function isBusy(err: unknown): boolean {
  // SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_RECOVERY, ...).
  return typeof (err as { code?: unknown } | undefined)?.code === 'string' && (err as { code: string }).code.startsWith('SQLITE_BUSY');
}

export class SqliteWriter {
  private readonly maxWaitMs: number;

  constructor(
    private readonly db: Database.Database,
    private readonly options: SqliteWriterOptions,
  ) {
    this.maxWaitMs = options.maxWaitMs ?? INDEX_WRITE_WAIT_MS;
  }

  /** `fn` as an IMMEDIATE transaction that waits for the write lock without blocking the event loop. */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => Promise<R> {
    const tx = this.db.transaction(fn);
    return (...args: A) => this.attempt(() => tx.immediate(...args) as R);
  }

  private async attempt<R>(once: () => R): Promise<R> {
    try {
      return once();
    } catch (err) {
      if (!isBusy(err)) throw asStorageError(err);
    }
    this.options.onWait?.();
    const started = this.options.clock.now();
    for (let step = 1; ; step = Math.min(step * 2, MAX_RETRY_STEP_MS)) {
      await sleep(step);
      try {
        return once();
      } catch (err) {
        if (!isBusy(err)) throw asStorageError(err);
      }
      const waited = this.options.clock.now() - started;
      if (waited >= this.maxWaitMs) {
        throw new RetryLaterError('UNAVAILABLE', 'the index is locked by another writer (garbage collection?); try again', 1, { waited_ms: waited });
      }
    }
  }
}
