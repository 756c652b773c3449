/**
 * Where the summary of the last completed GC run is kept, for /metrics: a file beside a
 * SQLite index (sqlite/sqlite-last-gc-run.ts), a row in PostgreSQL (pg/pg-gc-last-run.ts), so
 * every replica on one database reports the same run. The record is JSON; its shape is GC's
 * (src/gc/last-run.ts), so storage keeps it as it was written.
 */
export interface LastGcRunStore {
  /** The record last written, or undefined when no run has finished yet. */
  read(): Promise<unknown>;
  /** Replaces the record (atomically: a reader sees the old one or the new one). */
  write(run: object): Promise<void>;
}
