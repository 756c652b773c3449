/** What a GC run works with: the index (its own connection), the config, the time it started. */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { GcQueries } from '../storage/sqlite-gc-queries.js';
import type { GcItem, Progress } from './summary.js';

export interface GcContext {
  db: Database.Database;
  q: GcQueries;
  config: Config;
  logger: Logger;
  progress: Progress;
  /** The run's "now", from the injected clock: grace and ages count back from it. */
  now: number;
  /** The grace period of this run: gc.grace, or what --grace says. */
  grace: number;
  /** Rows are deleted in a scratch copy of the index; no file is touched. */
  dryRun: boolean;
  /** With --verbose / --list: collectors add every item they delete (or would). */
  items?: GcItem[];
}
