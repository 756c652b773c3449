/**
 * A short-lived memory of tag → manifest lookups, the hottest query of a registry (every
 * `docker pull` of a tag). Entries live `ttlMs` (1 s by default) and are dropped at once when
 * this process changes the repository's tags or manifests; the TTL bounds how long a change
 * made elsewhere (another process on the same index) can go unseen.
 */
import type { ManifestRecord } from '../storage/registry-index.js';
import type { Clock } from './clock.js';

interface Entry {
  record: ManifestRecord;
  expires: number;
}

export class TagCache {
  private readonly repos = new Map<string, Map<string, Entry>>();
  /** Bumped by forget: a lookup that started before a change must not cache what it read. */
  private readonly generations = new Map<string, number>();
  private size = 0;

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = 1000,
    private readonly maxEntries = 10_000,
  ) {}

  get(repo: string, tag: string): ManifestRecord | undefined {
    const entry = this.repos.get(repo)?.get(tag);
    if (!entry) return undefined;
    if (this.clock.now() >= entry.expires) {
      this.repos.get(repo)?.delete(tag);
      this.size--;
      return undefined;
    }
    return entry.record;
  }

  generation(repo: string): number {
    return this.generations.get(repo) ?? 0;
  }

  /** Remembers a lookup made when the repository was at `generation`; ignored if it changed since. */
  set(repo: string, tag: string, record: ManifestRecord, generation: number): void {
    if (generation !== this.generation(repo)) return;
    if (this.size >= this.maxEntries) {
      this.repos.clear();
      this.size = 0;
    }
    let tags = this.repos.get(repo);
    if (!tags) {
      tags = new Map();
      this.repos.set(repo, tags);
    }
    if (!tags.has(tag)) this.size++;
    tags.set(tag, { record, expires: this.clock.now() + this.ttlMs });
  }

  /** Forgets everything about a repository (a tag or manifest in it changed). */
  forget(repo: string): void {
    this.size -= this.repos.get(repo)?.size ?? 0;
    this.repos.delete(repo);
    this.generations.set(repo, this.generation(repo) + 1);
  }
}
