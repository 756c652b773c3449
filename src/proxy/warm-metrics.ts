/**
 * What warming reports to metrics, for API requests and scheduled syncs alike (both go
 * through the one Warmer). KeelMetrics implements it; nothing is recorded when metrics are off.
 * Dry runs and unpin requests fetch nothing and report nothing but their run.
 */
export interface WarmMetrics {
  /** A warm run (an API request or a scheduled sync's run) started (+1) or ended (-1). */
  warmRuns(delta: 1 | -1): void;
  /** Blobs of an image now listed to warm (positive), or done with: stored, failed or skipped (negative). */
  warmPending(blobs: number, bytes: number): void;
  /** A blob warmed: fetched from the upstream (or a replica) now, or found in the cache. */
  warmBlob(upstream: string, state: 'fetched' | 'cached', bytes: number): void;
  /**
   * An image's warming ended: warm (every blob stored, pinned if asked), failed, or stopped
   * (the client went away or the server closed before every blob was read).
   */
  warmImage(upstream: string, outcome: 'warm' | 'failed' | 'stopped'): void;
}

export const noWarmMetrics: WarmMetrics = {
  warmRuns: () => undefined,
  warmPending: () => undefined,
  warmBlob: () => undefined,
  warmImage: () => undefined,
};
