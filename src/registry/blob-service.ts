/** Blobs as a repository sees them: only content linked to the repository is visible. */
import type { Readable, Writable } from 'node:stream';
import type { BlobStore, ByteRange } from '../storage/blob-store.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import { BlobNotFoundError } from '../storage/storage-errors.js';
import { ignoreIntegrityFailures, sendContent, verifyContent, type IntegrityReporter } from './blob-integrity.js';
import { CheckedFiles } from './checked-files.js';
import type { Clock } from '../primitives/clock.js';
import { RegistryError } from '../primitives/errors.js';
import { RepoCache } from './repo-cache.js';
import type { RepositoryMemory } from './repository-service.js';
import type { Digest, RepoName } from '../primitives/types.js';

export class BlobService implements RepositoryMemory {
  /** Sizes of blobs found in a repository; a blob not found is looked up again every time. */
  private readonly sizes: RepoCache<number>;
  /** Files a HEAD found with their recorded length, trusted as long as the sizes above. */
  private readonly files: CheckedFiles;
  /** Hears every integrity failure: the file is checked again on its next HEAD, then `report` is told. */
  private readonly failed: IntegrityReporter;

  constructor(
    private readonly index: RegistryIndex,
    private readonly content: BlobStore,
    clock: Clock,
    report: IntegrityReporter = ignoreIntegrityFailures,
    cacheMs?: number,
  ) {
    this.sizes = new RepoCache<number>(clock, cacheMs);
    this.files = new CheckedFiles(clock, cacheMs);
    this.failed = (failure) => {
      this.files.distrust(failure.digest);
      report(failure);
    };
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

  /**
   * Size of a blob the repository may see and whose file is stored with that size (HEAD):
   * the index lookup and the file's check are both remembered for the index cache's TTL
   * (checked-files.ts), so a file that goes away unseen answers HEAD 200 for at most that
   * long, and not once a GET found it gone.
   */
  async storedSize(repo: RepoName, digest: Digest): Promise<number> {
    const size = await this.stat(repo, digest);
    if (this.files.trusted(digest)) return size;
    await verifyContent(this.content, digest, size, this.failed);
    this.files.checked(digest);
    return size;
  }

  /** The stored content (or a range) as a stream; BLOB_UNKNOWN when it is not stored. */
  async open(digest: Digest, range?: ByteRange): Promise<Readable> {
    try {
      return await this.content.reader(digest, range);
    } catch (err) {
      if (err instanceof BlobNotFoundError) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
      throw err;
    }
  }

  /**
   * A URL the client may fetch the content from itself (an object store's presigned URL), when
   * the backend offers one; undefined when Keel serves the bytes (the filesystem).
   */
  async redirectUrl(digest: Digest): Promise<string | undefined> {
    return this.content.redirectUrl ? await this.content.redirectUrl(digest) : undefined;
  }

  /**
   * Writes the content (`size` bytes in the index) to dest without ending it (a response: see
   * the backend's send); BLOB_UNKNOWN before anything is written when the file disagrees.
   */
  send(digest: Digest, dest: Writable, size: number, range?: ByteRange): Promise<void> {
    return sendContent(this.content, digest, dest, size, range, this.failed);
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
