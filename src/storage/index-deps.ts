/**
 * What opening the index needs, whichever database backs it: indexes.ts (SQLite, and the
 * switch) and pg/pg-indexes.ts (PostgreSQL, imported only when configured) both take these.
 */
import type { Clock } from '../primitives/clock.js';

export interface IndexDeps {
  clock: Clock;
  /** Called once for each write that found the index locked and had to wait (metrics). */
  onWriteWait?: () => void;
}

export interface OpenIndexDeps extends IndexDeps {
  /** PostgreSQL: connections at most in the pool. */
  poolSize?: number;
  /** PostgreSQL: a pooled connection failed while idle (the pool replaces it): for the log. */
  onIdleError?: (err: Error) => void;
}
