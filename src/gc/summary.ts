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
  /**
   * What nothing references any more but the grace period kept (registry store): blobs no
   * manifest references (their own row or a repository's link to them is younger than the
   * grace period) and, with --delete-untagged, untagged manifests younger than it. A run
   * with a shorter grace period would delete them.
   */
  keptByGrace: { blobs: number; bytes: number; manifests: number };
}

export function emptySummary(store: StoreSummary['store']): StoreSummary {
  return { store, manifests: 0, tags: 0, links: 0, repositories: 0, blobs: 0, uploads: 0, orphans: 0, bytes: 0, keptByGrace: { blobs: 0, bytes: 0, manifests: 0 } };
}

/** One thing a run deleted (or would delete), listed with --verbose / --list. */
export interface GcItem {
  store: StoreSummary['store'];
  kind: 'orphan' | 'manifest' | 'tag' | 'link' | 'repository' | 'blob' | 'upload';
  /** The repository as clients name it (`proxy/<upstream>/<name>` in the proxy cache). */
  repository?: string;
  tag?: string;
  digest?: string;
  /** Bytes of the content (a link's blob, which the link alone does not free). */
  size?: number;
  /** An orphaned leftover's path (orphaned content has its digest); an upload session's id. */
  path?: string;
  id?: string;
}

/** Order of the listing: the order a run deletes in, then by name. */
const KIND_ORDER: readonly GcItem['kind'][] = ['orphan', 'manifest', 'tag', 'link', 'repository', 'blob', 'upload'];

export function sortItems(items: GcItem[]): GcItem[] {
  const text = (i: GcItem): string => `${i.repository ?? ''}\n${i.tag ?? ''}\n${i.digest ?? ''}\n${i.path ?? ''}\n${i.id ?? ''}`;
  return items.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0));
}

export interface GcSummary {
  dryRun: boolean;
  durationMs: number;
  /** The grace period this run used (gc.grace, or --grace), in milliseconds. */
  graceMs: number;
  stores: StoreSummary[];
  /** With --verbose / --list: every item, registry store first. */
  items?: GcItem[];
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
