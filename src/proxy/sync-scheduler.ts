/**
 * Scheduled warming (`[[proxy.sync]]`): the server keeps each entry's images warm. When an
 * entry is due by the injected clock (at start, then every `interval`), the run expands the
 * entry's repository globs from the upstream's catalog (`/v2/_catalog`, read anew each run, so
 * a repository pushed later is picked up; for a group, the union of its members' catalogs), lists each repository's tags on the upstream,
 * keeps those the entry selects (sync-select.ts), and warms `proxy/<upstream>/<repository>:<tag>`
 * through the server's one Warmer, so its concurrency limit is shared with the warm API.
 * Tags are revalidated: an unchanged tag costs a HEAD, a moved one is fetched again, even
 * within tag_ttl.
 *
 * One replica at a time: a run first takes the lease `sync:<entry number>` in the shared index
 * (download_leases, renewed while it runs); a replica that does not get it skips that run and
 * waits an interval. A failed run (the repository or tag lists, or any image) is logged and
 * retried after 1m, doubling on each failure in a row, never later than the interval. Metrics
 * count the runs by outcome, the failures in a row and the last success (sync-metrics.ts).
 *
 * The wake-up is a real timer (unref'd, injectable), but what is due is decided by the clock.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { SyncEntryConfig } from '../config/schema.js';
import type { Clock } from '../primitives/clock.js';
import { RegistryError } from '../primitives/errors.js';
import { parsePlatform } from '../primitives/platform.js';
import { isRepositoryGlob } from '../primitives/repository-glob.js';
import { parseRepoName } from '../primitives/types.js';
import { claimLease, intervalTimer, type Every, type LeaseDeps } from './lease-keeper.js';
import { parseProxyName } from './proxy-name.js';
import type { PullThrough } from './pull-through.js';
import { noSyncMetrics, type SyncMetrics } from './sync-metrics.js';
import { nextPageQuery, selectRepositories, selectTags, tagPattern } from './sync-select.js';
import type { WarmedImage, Warmer } from './warm.js';

/** First retry delay after a failed run; it doubles per failure in a row, up to the interval. */
export const SYNC_RETRY_MS = 60_000;
/** How often the scheduler looks at the clock for due entries. */
export const SYNC_WAKE_MS = 1000;
/** A tag list or repository list longer than this many pages is a broken upstream. */
const MAX_PAGES = 1000;
/**
 * Repository names asked for per catalog page. Distribution caps a page at 1000 by default,
 * and a registry may refuse an `n` above its cap; 100 stays well under the usual caps.
 */
const CATALOG_PAGE = 100;

export type SyncOutcome = 'synced' | 'failed' | 'skipped';

export interface SyncRun {
  /** The entry's position in the configuration, from 0. */
  entry: number;
  outcome: SyncOutcome;
  /** The references warmed (selected tags), in order. */
  references: string[];
  images: WarmedImage[];
  error?: string;
  /** When the entry is due next, by the clock. */
  nextAt: number;
}

export interface SyncSchedulerDeps {
  entries: readonly SyncEntryConfig[];
  proxy: PullThrough;
  warmer: Warmer;
  clock: Clock;
  logger: Logger;
  /** The download leases' settings: one run of an entry at a time across replicas. */
  lease: LeaseDeps;
  metrics?: SyncMetrics;
  every?: Every;
}

interface EntryState {
  nextAt: number;
  failures: number;
  running: Promise<void> | undefined;
  runs: SyncRun[];
}

export class SyncScheduler {
  private readonly states: EntryState[];
  private readonly events = new EventEmitter();
  private stopTimer: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly deps: SyncSchedulerDeps) {
    this.states = deps.entries.map(() => ({ nextAt: 0, failures: 0, running: undefined, runs: [] }));
    this.events.setMaxListeners(0);
  }

  /** Every entry is due at once; then checked every SYNC_WAKE_MS. */
  start(): void {
    if (this.states.length === 0 || this.stopTimer || this.stopped) return;
    const now = this.deps.clock.now();
    for (const state of this.states) state.nextAt = now;
    this.stopTimer = (this.deps.every ?? intervalTimer)(SYNC_WAKE_MS, () => this.tick());
    this.tick();
  }

  /** Starts every due entry that is not running already. */
  tick(): void {
    if (this.stopped) return;
    const now = this.deps.clock.now();
    this.states.forEach((state, i) => {
      if (state.running === undefined && now >= state.nextAt) {
        state.running = this.run(i).finally(() => {
          state.running = undefined;
        });
      }
    });
  }

  /** Whether a run of the entry is in progress. */
  isRunning(entry: number): boolean {
    return this.states[entry]?.running !== undefined;
  }

  /** The runs of an entry so far, oldest first. */
  runs(entry: number): readonly SyncRun[] {
    return this.states[entry]?.runs ?? [];
  }

  /** Resolves with the entry's `count`-th run (from 1) once it has ended. */
  completed(entry: number, count: number): Promise<SyncRun> {
    const done = this.states[entry]?.runs[count - 1];
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => {
      const listener = (run: SyncRun): void => {
        const wanted = this.states[entry]?.runs[count - 1];
        if (run.entry === entry && wanted) {
          this.events.off('run', listener);
          resolve(wanted);
        }
      };
      this.events.on('run', listener);
    });
  }

  /** Stops the timer; runs in flight end before their next blob and are waited for. */
  async close(): Promise<void> {
    this.stopped = true;
    this.stopTimer?.();
    await Promise.allSettled(this.states.map((s) => s.running));
  }

  private async run(i: number): Promise<void> {
    const { clock, logger } = this.deps;
    const entry = this.deps.entries[i] as SyncEntryConfig;
    const state = this.states[i] as EntryState;
    let run: Omit<SyncRun, 'nextAt'>;
    try {
      run = await this.leased(i, entry);
    } catch (err) {
      run = { entry: i, outcome: 'failed', references: [], images: [], error: (err as Error).message };
    }
    const now = clock.now();
    if (run.outcome === 'failed') {
      state.failures++;
      const delay = Math.min(entry.interval, SYNC_RETRY_MS * 2 ** Math.min(state.failures - 1, 30));
      state.nextAt = now + delay;
      logger.warn({ sync: i + 1, upstream: entry.upstream, error: run.error, failures: state.failures, retry_in_ms: delay }, 'sync: run failed');
    } else {
      state.failures = 0;
      state.nextAt = now + entry.interval;
      if (run.outcome === 'skipped') logger.info({ sync: i + 1, upstream: entry.upstream }, 'sync: another replica holds this entry; run skipped');
      else logger.info({ sync: i + 1, upstream: entry.upstream, images: run.references.length, fetched: sum(run.images, 'fetched'), cached: sum(run.images, 'cached') }, 'sync: run done');
    }
    // The image counts only once the run had its selection (the tag lists read).
    const failed = run.images.filter((image) => image.error !== undefined).length;
    const images = run.references.length > 0 && run.images.length > 0 ? { warm: run.images.length - failed, failed } : undefined;
    (this.deps.metrics ?? noSyncMetrics).syncRun(i + 1, entry.upstream, run.outcome, state.failures, now, images);
    const done: SyncRun = { ...run, nextAt: state.nextAt };
    state.runs.push(done);
    this.events.emit('run', done);
  }

  private async leased(i: number, entry: SyncEntryConfig): Promise<Omit<SyncRun, 'nextAt'>> {
    const claim = await claimLease(this.deps.lease, `sync:${i + 1}`);
    if (!claim.won) return { entry: i, outcome: 'skipped', references: [], images: [] };
    try {
      const globs = entry.repositories.filter(isRepositoryGlob);
      let repositories = entry.repositories;
      if (globs.length > 0) {
        try {
          repositories = selectRepositories(entry.repositories, await this.listCatalog(entry.upstream));
        } catch (err) {
          return { entry: i, outcome: 'failed', references: [], images: [], error: `${globs.join(', ')}: listing the upstream's repositories: ${(err as Error).message}` };
        }
      }
      const references: string[] = [];
      for (const repository of repositories) {
        let tags: string[];
        try {
          tags = await this.listTags(entry.upstream, repository);
        } catch (err) {
          return { entry: i, outcome: 'failed', references, images: [], error: `${repository}: listing its tags: ${(err as Error).message}` };
        }
        for (const tag of selectTags(tags, tagPattern(entry.tags), entry.newest, entry.semver)) references.push(`proxy/${entry.upstream}/${repository}:${tag}`);
      }
      const summary = await this.deps.warmer.warm({ references, platforms: entry.platforms.map(parsePlatform), dryRun: false, pin: entry.pin, revalidate: true }, () => undefined, () => this.stopped);
      const failed = summary.images.filter((image) => image.error !== undefined);
      return {
        entry: i,
        outcome: failed.length > 0 ? 'failed' : 'synced',
        references,
        images: summary.images,
        ...(failed.length > 0 ? { error: failed.map((f) => `${f.reference}: ${f.error?.message ?? ''}`).join('; ') } : {}),
      };
    } finally {
      await claim.keeper.release();
    }
  }

  /**
   * The repositories of an upstream, or of a group the union of its members' (each member is a
   * registry of its own; the group then serves each through its members in order). A member
   * that cannot list them is logged and left out; the run fails only when none can.
   */
  private async listCatalog(upstream: string): Promise<string[]> {
    const members = this.deps.proxy.members(upstream);
    if (members.length === 1) return this.listMemberCatalog(upstream);
    const repositories = new Set<string>();
    const failures: string[] = [];
    for (const member of members) {
      try {
        for (const r of await this.listMemberCatalog(member)) repositories.add(r);
      } catch (err) {
        failures.push(`${member}: ${(err as Error).message}`);
        this.deps.logger.warn({ upstream, member, error: (err as Error).message }, 'sync: a group member does not list its repositories; the others are used');
      }
    }
    if (failures.length === members.length) throw new RegistryError('UNSUPPORTED', `no member of the group "${upstream}" lists its repositories (${failures.join('; ')})`);
    return [...repositories].sort();
  }

  /** Every page of one upstream's repository list, CATALOG_PAGE names a page; fails when the upstream cannot answer. */
  private async listMemberCatalog(upstream: string): Promise<string[]> {
    const repositories: string[] = [];
    let query: string | undefined = `?n=${CATALOG_PAGE}`;
    for (let page = 0; query !== undefined; page++) {
      if (page === MAX_PAGES) throw new RegistryError('UNAVAILABLE', `the repository list of "${upstream}" has more than ${MAX_PAGES} pages`);
      const list = await this.deps.proxy.catalog(upstream, query);
      repositories.push(...list.repositories);
      query = nextPageQuery(list.link);
    }
    return [...new Set(repositories)].sort();
  }

  /** Every page of the upstream's tag list; fails (no cached fallback) when the upstream cannot answer. */
  private async listTags(upstream: string, repository: string): Promise<string[]> {
    const name = parseProxyName(parseRepoName(`proxy/${upstream}/${repository}`));
    const tags: string[] = [];
    let query: string | undefined = '';
    for (let page = 0; query !== undefined; page++) {
      if (page === MAX_PAGES) throw new RegistryError('UNAVAILABLE', `the tag list of ${repository} has more than ${MAX_PAGES} pages`);
      const list = await this.deps.proxy.tags(name, query, { cachedWhenUnavailable: false });
      tags.push(...list.tags);
      query = nextPageQuery(list.link);
    }
    return [...new Set(tags)].sort();
  }
}

function sum(images: readonly WarmedImage[], key: 'fetched' | 'cached'): number {
  return images.reduce((n, image) => n + image[key].blobs, 0);
}
