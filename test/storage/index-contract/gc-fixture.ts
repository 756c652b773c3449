/**
 * What the GC, proxy-index and GC-lock contract suites are given for each index backend: a
 * fresh, empty, migrated index as the server opens it (IndexSet), GC's own connections to
 * it, GC locks on it, and (PostgreSQL) a way to interleave two transactions at statement
 * level. Runner: test/storage/gc-proxy-contract.test.ts.
 */
import type { GcIndex } from '../../../src/storage/gc-index.js';
import type { GcLock } from '../../../src/storage/gc-lock.js';
import type { IndexSet } from '../../../src/storage/index-set.js';

/**
 * A lock on a table held by a connection of its own, that blocks every writer of the table
 * (readers go on): a transaction that reaches a write there waits until release().
 */
export interface HeldWrites {
  /** Transactions of this database now waiting for some lock (the holder's or another's). */
  waiting(): Promise<number>;
  release(): Promise<void>;
}

export interface GcUnderTest {
  /** The server's view (what replicas write through). */
  indexes: IndexSet;
  /** A second server on the same index (another replica on PostgreSQL; the same file on SQLite). */
  openReplica(): Promise<IndexSet>;
  /** GC's own connection, as scripts/gc opens it (read-only for a dry run). */
  openGc(options: { readonly: boolean }): Promise<GcIndex>;
  /** A new GC lock on this index, as a GC process would make it. */
  gcLock(): GcLock;
  /**
   * PostgreSQL: holds writes to `table` (LOCK TABLE ... IN SHARE MODE on another connection),
   * so a test can stop a transaction between its reads and its writes. Absent on SQLite,
   * whose write transactions run whole, one at a time.
   */
  holdWrites?(table: string): Promise<HeldWrites>;
  /**
   * PostgreSQL: terminates the database session holding the GC lock, as the server sees it
   * when the GC process dies; resolves once that session is gone. Absent on SQLite (a lock file
   * goes stale after a minute instead).
   */
  endGcLockSession?(): Promise<void>;
  cleanup(): Promise<void>;
}

export type MakeGcIndex = () => Promise<GcUnderTest>;

/** Waits (polling, no fixed delay) until `done` says yes. */
export async function until(done: () => Promise<boolean>, what: string, limitMs = 30_000): Promise<void> {
  const started = Date.now();
  while (!(await done())) {
    if (Date.now() - started > limitMs) throw new Error(`still waiting after ${limitMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
