/** Blobs as a repository sees them: only content linked to the repository is visible. */
import type { Readable, Writable } from 'node:stream';
import type { ByteRange, ContentStore } from '../storage/content-store.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import type { Clock } from './clock.js';
import { RegistryError } from './errors.js';
import { RepoCache } from './repo-cache.js';
import type { RepositoryMemory } from './repository-service.js';
import type { Digest, RepoName } from './types.js';

export class BlobService implements RepositoryMemory {
  /** Sizes of blobs found in a repository; a blob not found is looked up again every time. */
  private readonly sizes: RepoCache<number>;

  constructor(
    private readonly index: RegistryIndex,
    private readonly content: ContentStore,
    clock: Clock,
  ) {
    this.sizes = new RepoCache<number>(clock);
  }

  /** Size of a blob the repository may see; BLOB_UNKNOWN otherwise. */
  async stat(repo: RepoName, digest: Digest): Promise<number> {
    const cached = this.sizes.get(repo, digest);
    if (cached !== undefined) return cached;
    const generation = this.sizes.generation(repo);
    const size = await this.index.repositoryBlobSize(repo, digest);
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    this.sizes.set(repo, digest, size, generation);
    return size;
  }

  open(digest: Digest, range?: ByteRange): Readable {
    return this.content.read(digest, range);
  }

  /** Writes the content to dest without ending it (a response: see storage/file-sender.ts). */
  send(digest: Digest, dest: Writable, range?: ByteRange): Promise<void> {
    return this.content.send(digest, dest, range);
  }

  /** Drops what this service remembers of the repository (it was deleted as a whole). */
  forgetRepository(repo: RepoName): void {
    this.sizes.forget(repo);
  }

  /** Unlinks the blob from the repository; the bytes stay until garbage collection. */
  async delete(repo: RepoName, digest: Digest): Promise<void> {
    const unlinked = await this.index.unlinkBlob(repo, digest);
    this.sizes.forget(repo);
    if (!unlinked) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
  }
}
