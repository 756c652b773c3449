/** What scheduled syncs report to metrics (KeelMetrics implements it; nothing when metrics are off). */
export interface SyncMetrics {
  /**
   * A run of `[[proxy.sync]]` entry `entry` (from 1) ended; `failures` is how many runs of it
   * failed in a row (0 after a success), `endedAt` the clock's time, in ms. `images`: of the
   * images the run selected, how many are warm and how many failed (absent when the run did
   * not get as far as its tag lists: the last figures stand).
   */
  syncRun(entry: number, upstream: string, outcome: 'synced' | 'failed' | 'skipped', failures: number, endedAt: number, images?: { warm: number; failed: number }): void;
}

export const noSyncMetrics: SyncMetrics = { syncRun: () => undefined };
