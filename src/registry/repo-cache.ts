/**
 * A short-lived memory of per-repository index lookups, for the hottest queries of a
 * registry: tag → manifest (every `docker pull` of a tag) and a repository's blob sizes
 * (every layer a client checks with HEAD before pushing or pulling). Entries live `ttlMs`
 * (1 s by default) and are dropped at once when this process changes what the repository
 * answers; the TTL bounds how long a change made elsewhere (another process on the same
 * index, such as garbage collection) can go unseen. On an index other hosts write too
 * (IndexSet.shared: PostgreSQL behind several replicas) even that is too late, a tag pushed on
 * one replica must resolve on the next at once: there the TTL is 0 and nothing is kept.
 */
import type { Clock } from '../primitives/clock.js';

interface Entry<V> {
  value: V;
  expires: number;
}

export class RepoCache<V> {
  private readonly repos = new Map<string, Map<string, Entry<V>>>();
  /** Bumped by forget: a lookup that started before a change must not cache what it read. */
  private readonly generations = new Map<string, number>();
  private size = 0;

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = 1000,
    private readonly maxEntries = 10_000,
  ) {}

  get(repo: string, key: string): V | undefined {
    const entry = this.repos.get(repo)?.get(key);
    if (!entry) return undefined;
    if (this.clock.now() >= entry.expires) {
      this.repos.get(repo)?.delete(key);
      this.size--;
      return undefined;
    }
    return entry.value;
  }

  generation(repo: string): number {
    return this.generations.get(repo) ?? 0;
  }

  /** Remembers a lookup made when the repository was at `generation`; ignored if it changed since. */
  set(repo: string, key: string, value: V, generation: number): void {
    if (this.ttlMs <= 0 || generation !== this.generation(repo)) return;
    if (this.size >= this.maxEntries) {
      this.repos.clear();
      this.size = 0;
    }
    let entries = this.repos.get(repo);
    if (!entries) {
      entries = new Map();
      this.repos.set(repo, entries);
    }
    if (!entries.has(key)) this.size++;
    entries.set(key, { value, expires: this.clock.now() + this.ttlMs });
  }

  /** Forgets everything about a repository (something it answers changed). */
  forget(repo: string): void {
    this.size -= this.repos.get(repo)?.size ?? 0;
    this.repos.delete(repo);
    this.generations.set(repo, this.generation(repo) + 1);
  }
}
