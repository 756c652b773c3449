/** What one GC run did (or, with --dry-run, would do) to one store. */
export interface StoreSummary {
  store: 'registry' | 'proxy';
  manifests: number;
  tags: number;
  links: number;
  /** Repositories left with no manifest and no blob link, removed (tags/list then says NAME_UNKNOWN). */
  repositories: number;
  blobs: number;
  uploads: number;
  orphans: number;
  bytes: number;
}

export function emptySummary(store: StoreSummary['store']): StoreSummary {
  return { store, manifests: 0, tags: 0, links: 0, repositories: 0, blobs: 0, uploads: 0, orphans: 0, bytes: 0 };
}

export interface GcSummary {
  dryRun: boolean;
  durationMs: number;
  stores: StoreSummary[];
}

/** Progress of a phase, shown as a bar on a terminal. */
export interface Progress {
  /**
   * A phase begins: its work is found and none of it is done yet. GC awaits what this returns,
   * so an observer sees the store exactly at that point (tests act there, e.g. push again
   * what a scan found).
   */
  start(phase: string, total: number): void | Promise<void>;
  tick(): void;
  stop(): void;
}

export const silentProgress: Progress = { start: () => undefined, tick: () => undefined, stop: () => undefined };
