/**
 * A ContentStore decorator that keeps small content read whole (manifests) in memory, by
 * digest. Content is immutable under its digest, so the cache never goes stale; it is
 * bounded in bytes (lru-cache) and only holds what readBytes/writeBytes saw.
 */
import type { Readable, Writable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { Digest } from '../shared/types.js';
import type { ByteRange, ContentStore } from './content-store.js';

export class CachedContentStore implements ContentStore {
  private readonly cache: LRUCache<Digest, Buffer>;

  constructor(
    private readonly inner: ContentStore,
    maxBytes: number,
  ) {
    this.cache = new LRUCache<Digest, Buffer>({ maxSize: Math.max(1, maxBytes), sizeCalculation: (b) => Math.max(1, b.length) });
  }

  size(digest: Digest): Promise<number | undefined> {
    return this.inner.size(digest);
  }

  verify(digest: Digest, size: number): Promise<void> {
    return this.inner.verify(digest, size);
  }

  read(digest: Digest, range?: ByteRange): Readable {
    return this.inner.read(digest, range);
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

  tempPath(): Promise<string> {
    return this.inner.tempPath();
  }

  commitFile(tempPath: string, digest: Digest): Promise<void> {
    return this.inner.commitFile(tempPath, digest);
  }

  async writeBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    await this.inner.writeBytes(digest, bytes);
    this.cache.set(digest, Buffer.from(bytes));
  }

  async remove(digest: Digest): Promise<boolean> {
    this.cache.delete(digest);
    return this.inner.remove(digest);
  }
}
