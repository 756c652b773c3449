/**
 * One GC run at a time, per index: a second run exits at once (EX_TEMPFAIL from the CLI).
 * Beside GcIndex, as part of GC's contract with the index: a SQLite index has a lock file
 * beside it (src/gc/file-gc-lock.ts); PostgreSQL, shared by several hosts, a session-level
 * advisory lock in the database (pg/pg-gc-lock.ts).
 */
export interface GcLock {
  /** Takes the lock, or rejects with GcLockedError when another run holds it. */
  acquire(): Promise<void>;
  /** Lets go of a lock acquire() took. */
  release(): Promise<void>;
}

export class GcLockedError extends Error {
  constructor(
    /** Where the lock is, for the message: a path, a lock name. */
    readonly lockPath: string,
  ) {
    super(`another garbage collection is running (lock ${lockPath}); not starting a second one`);
    this.name = 'GcLockedError';
  }
}
