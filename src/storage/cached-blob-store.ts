/**
 * A BlobStore decorator that keeps small content read whole (manifests) in memory, by
 * digest. Content is immutable under its digest, so the cache never goes stale; it is
 * bounded in bytes (lru-cache) and only holds what readBytes/writeBytes saw. Everything
 * else goes to the store it decorates, whichever backend that is.
 */
import type { Readable, Writable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { Digest } from '../primitives/types.js';
import type { BlobStore, BlobWriter, ByteRange, Leftover, StoredBlob } from './blob-store.js';
import type { StorageBackend } from './backend.js';

export class CachedBlobStore implements BlobStore {
  private readonly cache: LRUCache<Digest, Buffer>;
  readonly redirectUrl?: (digest: Digest) => Promise<string | undefined>;

  constructor(
    private readonly inner: BlobStore,
    maxBytes: number,
  ) {
    this.cache = new LRUCache<Digest, Buffer>({ maxSize: Math.max(1, maxBytes), sizeCalculation: (b) => Math.max(1, b.length) });
    // Only a store that can redirect offers it: callers test for the method.
    const redirect = inner.redirectUrl?.bind(inner);
    if (redirect) this.redirectUrl = redirect;
  }

  size(digest: Digest): Promise<number | undefined> {
    return this.inner.size(digest);
  }

  verify(digest: Digest, size: number): Promise<void> {
    return this.inner.verify(digest, size);
  }

  reader(digest: Digest, range?: ByteRange): Promise<Readable> {
    return this.inner.reader(digest, range);
  }

  send(digest: Digest, dest: Writable, size: number, range?: ByteRange): Promise<void> {
    return this.inner.send(digest, dest, size, range);
  }

  async readBytes(digest: Digest, maxBytes: number): Promise<Buffer> {
    const hit = this.cache.get(digest);
    if (hit && hit.length <= maxBytes) return hit;
    const bytes = await this.inner.readBytes(digest, maxBytes);
    this.cache.set(digest, bytes);
    return bytes;
  }

  writer(): Promise<BlobWriter> {
    return this.inner.writer();
  }

  async writeBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    await this.inner.writeBytes(digest, bytes);
    this.cache.set(digest, Buffer.from(bytes));
  }

  async remove(digest: Digest): Promise<boolean> {
    this.cache.delete(digest);
    return this.inner.remove(digest);
  }

  list(skip?: (digests: readonly Digest[]) => Promise<ReadonlySet<string>>): AsyncIterable<StoredBlob> {
    return this.inner.list(skip);
  }

  get removalConcurrency(): number {
    return this.inner.removalConcurrency;
  }

  async removeUnwanted(digest: Digest, cutoff: number, wanted: () => boolean | Promise<boolean>): Promise<number> {
    const freed = await this.inner.removeUnwanted(digest, cutoff, wanted);
    if (freed > 0) this.cache.delete(digest);
    return freed;
  }

  leftovers(cutoff: number): AsyncIterable<Leftover> {
    return this.inner.leftovers(cutoff);
  }

  sweepLeftovers(cutoff: number, removed?: (leftover: Leftover) => void): Promise<number> {
    return this.inner.sweepLeftovers(cutoff, removed);
  }
}

/** `backend` with its blob store behind a CachedBlobStore of `maxBytes`. */
export function withCachedBlobs(backend: StorageBackend, maxBytes: number): StorageBackend {
  return {
    kind: backend.kind,
    blobs: new CachedBlobStore(backend.blobs, maxBytes),
    uploads: backend.uploads,
    ready: () => backend.ready(),
    close: () => backend.close(),
  };
}
