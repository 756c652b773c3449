/**
 * Last pull times for the repository listings, without an index write on every pull: a
 * manifest GET or HEAD (by tag or digest) that finds its manifest notes the repository here,
 * and the first note of a repository writes its pulled_at at once; notes for it within the
 * next minute (on the injected clock) write nothing. So a repository costs this process at
 * most one write a minute, and the time shown is the last pull to within that minute. The
 * write runs beside the pull (a busy index never holds up a `docker pull`); a failed one is
 * reported and the next pull of the repository tries again.
 */
import type { Clock } from '../primitives/clock.js';
import type { RepoName } from '../primitives/types.js';
import type { BrowseIndex } from '../storage/browse-index.js';

export const PULL_RECORD_INTERVAL_MS = 60_000;
/** Repositories remembered before the ones written more than a minute ago are forgotten. */
const REMEMBERED = 10_000;

export class PullRecorder {
  private readonly written = new Map<RepoName, number>();
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly index: Pick<BrowseIndex, 'recordPulls'>,
    private readonly clock: Clock,
    private readonly onError: (err: unknown) => void = () => undefined,
    private readonly intervalMs: number = PULL_RECORD_INTERVAL_MS,
  ) {}

  /** A pull of `repo` found its manifest. */
  noted(repo: RepoName): void {
    const now = this.clock.now();
    const last = this.written.get(repo);
    if (last !== undefined && now - last < this.intervalMs) return;
    this.written.set(repo, now);
    if (this.written.size > REMEMBERED) this.forget(now);
    const write = this.index.recordPulls(new Map([[repo, now]])).catch((err: unknown) => {
      if (this.written.get(repo) === now) this.written.delete(repo);
      this.onError(err);
    });
    this.pending = Promise.all([this.pending, write]).then(() => undefined);
  }

  /** Resolves once every write started so far has ended (tests; shutdown). */
  settled(): Promise<void> {
    return this.pending;
  }

  private forget(now: number): void {
    for (const [repo, at] of this.written) if (now - at >= this.intervalMs) this.written.delete(repo);
  }
}
