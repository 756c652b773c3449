/**
 * Blob files recently found with the length the index records (a HEAD's stat), trusted for as
 * long as a repository's index lookups are (RepoCache: 1 s by default, nothing on an index
 * several replicas share). A HEAD load asks about the same few layers over and over; the stat
 * of the file was about a tenth of the CPU of each such HEAD. The trust is per file (digest),
 * not per repository, and is dropped the moment any read of that file finds it missing or of
 * another length (integrity failures are reported through BlobService, which drops it), so a
 * file that goes away unseen is answered 200 by HEAD for at most that TTL: the same bound a
 * garbage collection's deleted rows already have, and a GET of it still fails cleanly (every
 * GET checks the opened file).
 */
import type { Clock } from '../primitives/clock.js';
import type { Digest } from '../primitives/types.js';

export class CheckedFiles {
  /** digest → when the trust ends (clock ms). */
  private readonly until = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = 1000,
    private readonly maxEntries = 10_000,
  ) {}

  /** Whether the file of `digest` was found right within the TTL. */
  trusted(digest: Digest): boolean {
    const until = this.until.get(digest);
    if (until === undefined) return false;
    if (this.clock.now() < until) return true;
    this.until.delete(digest);
    return false;
  }

  /** The file of `digest` was just found with its recorded length. */
  checked(digest: Digest): void {
    if (this.ttlMs <= 0) return;
    if (this.until.size >= this.maxEntries) this.until.clear();
    this.until.set(digest, this.clock.now() + this.ttlMs);
  }

  /** The file of `digest` was found missing or wrong: check it on its next HEAD. */
  distrust(digest: string): void {
    this.until.delete(digest);
  }
}
