/** What a GC run works with: the index (its own connection), the config, the time it started. */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Clock } from '../primitives/clock.js';
import type { GcIndex } from '../storage/gc-index.js';
import type { GcItem, Progress } from './summary.js';

export interface GcContext {
  index: GcIndex;
  config: Config;
  logger: Logger;
  progress: Progress;
  /** The injected clock: it times write batches (batches.ts). */
  clock: Clock;
  /** The run's "now", from the clock: grace and ages count back from it. */
  now: number;
  /** The grace period of this run: gc.grace, or what --grace says. */
  grace: number;
  /** Plans only: what a real run would delete is counted, nothing is written (rows or files). */
  dryRun: boolean;
  /** With --verbose / --list: collectors add every item they delete (or would). */
  items?: GcItem[];
  /** Leftovers this run counted already: stores may share a temporary root. */
  leftoversSeen: Set<string>;
}
