/**
 * The summary of the last completed (not dry) GC run, kept where the server can report it on
 * /metrics: beside a SQLite index, in a PostgreSQL one (storage/last-gc-run.ts).
 */
import type { LastGcRunStore } from '../storage/last-gc-run.js';
import type { GcSummary } from './summary.js';

export interface LastGcRun extends GcSummary {
  finishedAt: number;
}

export async function writeLastRun(store: LastGcRunStore, run: LastGcRun): Promise<void> {
  await store.write(run);
}

/** The last run, or undefined when there is none (or the record is not one: then "never"). */
export async function readLastRun(store: LastGcRunStore): Promise<LastGcRun | undefined> {
  const record = await store.read();
  if (typeof record !== 'object' || record === null) return undefined;
  const run = record as Partial<LastGcRun>;
  return typeof run.finishedAt === 'number' && Array.isArray(run.stores) ? (record as LastGcRun) : undefined;
}
