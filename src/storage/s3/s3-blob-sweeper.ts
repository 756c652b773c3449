/**
 * GC's view of the S3 blob store: what is stored, removal that does not take content back
 * from a writer, and the leftovers of interrupted writes.
 *
 * removeUnwanted, without the atomic rename the filesystem has:
 *   1. HEAD the object: gone → 0; written at or after the cutoff → kept. Every commit writes
 *      the object anew (s3-blob-writer.ts), so a re-push of old content moves its LastModified.
 *      HEAD gives whole seconds, so the object counts as written at the end of its second.
 *   2. wanted() → kept.
 *   3. Server-side copy of the object to trash/ (only while it still has the ETag of step 1),
 *      then DeleteObject.
 *   4. wanted() once more: when the index wants it now, the copy goes back (unless a commit put
 *      the content back meanwhile); the trash copy is deleted either way.
 * The window left: a commit that lands between the HEAD of step 1 and the DeleteObject of
 * step 3 (a few ms) is deleted with the old object, and is only put back if its index row is
 * visible by the re-check of step 4; a writer slower than that between its commit and its
 * index row loses the object (the row then points at nothing; `verify` reports it). A delete
 * conditional on the ETag would close it; it is not used, as RGW 16.2 is not known to honour one.
 *
 * sweepLeftovers: multipart uploads under the prefix (assemblies of a commit that died) whose
 * start and newest part are older than the cutoff are aborted; ingest/ writer directories
 * whose newest piece is older are deleted, and trash/ copies older than the cutoff.
 */
import { randomUUID } from 'node:crypto';
import type { Digest } from '../../primitives/types.js';
import type { Leftover, StoredBlob } from '../blob-store.js';
import type { S3Bucket } from './s3-bucket.js';
import type { S3Paths } from './s3-paths.js';

/** HEAD's Last-Modified is whole seconds: an object may have been written up to this much later. */
const LAST_MODIFIED_RESOLUTION = 999;

/** Removals in flight: each is a few requests to the object store (HEAD, copy, delete). */
const REMOVALS_IN_FLIGHT = 32;

export class S3BlobSweeper {
  readonly removalConcurrency = REMOVALS_IN_FLIGHT;
  constructor(
    private readonly bucket: S3Bucket,
    private readonly paths: S3Paths,
  ) {}

  async *list(): AsyncIterable<StoredBlob> {
    for await (const o of this.bucket.list(this.paths.blobs)) {
      const digest = this.paths.digestOf(o.key);
      if (digest) yield { digest, size: o.size, modified: o.modified };
    }
  }

  async removeUnwanted(digest: Digest, cutoff: number, wanted: () => boolean | Promise<boolean>): Promise<number> {
    const key = this.paths.blob(digest);
    const head = await this.bucket.head(key);
    if (!head || head.modified + LAST_MODIFIED_RESOLUTION >= cutoff) return 0;
    if (await wanted()) return 0;
    const trash = this.paths.trashOf(digest, randomUUID());
    if (!(await this.bucket.copy(key, trash, head.size, head.etag))) return 0; // changed or gone since the HEAD
    try {
      await this.bucket.delete(key);
      if (await wanted()) {
        if (!(await this.bucket.head(key))) await this.bucket.copy(trash, key, head.size);
        return 0;
      }
    } finally {
      await this.bucket.delete(trash).catch(() => undefined);
    }
    return head.size;
  }

  /** What sweepLeftovers would remove, read only (a dry run lists it). */
  async *leftovers(cutoff: number): AsyncIterable<Leftover> {
    for await (const found of this.found(cutoff)) yield found.leftover;
  }

  async sweepLeftovers(cutoff: number, removed?: (leftover: Leftover) => void): Promise<number> {
    let freed = 0;
    for await (const found of this.found(cutoff)) {
      await found.remove();
      freed += found.leftover.size;
      removed?.(found.leftover);
    }
    return freed;
  }

  /** Leftovers older than the cutoff, each with the way to remove it. */
  private async *found(cutoff: number): AsyncIterable<{ leftover: Leftover; remove: () => Promise<void> }> {
    for await (const u of this.bucket.multipartUploads(this.paths.all)) {
      if (u.initiated >= cutoff) continue;
      const parts = await this.bucket.partsOf(u.key, u.uploadId);
      if (!parts || parts.newest >= cutoff) continue;
      yield {
        leftover: { name: `${u.key} (multipart upload ${u.uploadId})`, size: parts.bytes, modified: parts.newest },
        remove: () => this.bucket.abort(u.key, u.uploadId),
      };
    }
    yield* this.groups(this.paths.ingest, cutoff);
    yield* this.groups(this.paths.trash, cutoff, 3);
  }

  /**
   * The objects under `prefix` grouped by their first `depth` path segments (a writer's
   * directory) whose newest object is older than the cutoff, each group one leftover.
   */
  private async *groups(prefix: string, cutoff: number, depth = 1): AsyncIterable<{ leftover: Leftover; remove: () => Promise<void> }> {
    const groups = new Map<string, { keys: string[]; bytes: number; newest: number }>();
    for await (const o of this.bucket.list(prefix)) {
      const group = o.key.slice(prefix.length).split('/').slice(0, depth).join('/');
      const g = groups.get(group) ?? { keys: [], bytes: 0, newest: 0 };
      g.keys.push(o.key);
      g.bytes += o.size;
      g.newest = Math.max(g.newest, o.modified);
      groups.set(group, g);
    }
    for (const [group, g] of groups) {
      if (g.newest >= cutoff) continue;
      yield { leftover: { name: `${prefix}${group}`, size: g.bytes, modified: g.newest }, remove: () => this.bucket.deleteMany(g.keys) };
    }
  }
}
