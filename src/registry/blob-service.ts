/** Blobs as a repository sees them: only content linked to the repository is visible. */
import type { Readable, Writable } from 'node:stream';
import type { ByteRange, ContentStore } from '../storage/content-store.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import { RegistryError } from './errors.js';
import type { Digest, RepoName } from './types.js';

export class BlobService {
  constructor(
    private readonly index: RegistryIndex,
    private readonly content: ContentStore,
  ) {}

  /** Size of a blob the repository may see; BLOB_UNKNOWN otherwise. */
  async stat(repo: RepoName, digest: Digest): Promise<number> {
    const size = await this.index.repositoryBlobSize(repo, digest);
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    return size;
  }

  open(digest: Digest, range?: ByteRange): Readable {
    return this.content.read(digest, range);
  }

  /** Writes the content to dest without ending it (a response: see storage/file-sender.ts). */
  send(digest: Digest, dest: Writable, range?: ByteRange): Promise<void> {
    return this.content.send(digest, dest, range);
  }

  /** Unlinks the blob from the repository; the bytes stay until garbage collection. */
  async delete(repo: RepoName, digest: Digest): Promise<void> {
    if (!(await this.index.unlinkBlob(repo, digest))) {
      throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    }
  }
}
