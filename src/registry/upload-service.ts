/**
 * Blob upload sessions: start, append chunks, finish with a digest, cancel, and
 * cross-repository mounts. Sessions are recorded in the index and their bytes in a file,
 * so they survive a restart. The digest is worked out off the main thread while the bytes
 * land (storage/file-hasher.ts: a sha256 that follows the file); after a restart, a failed
 * chunk or for sha512 the file is hashed again from the start when the upload finishes.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ContentStore } from '../storage/content-store.js';
import { TooLargeError } from '../storage/storage-errors.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import type { FileHasher } from '../storage/file-hasher.js';
import type { UploadFiles } from '../storage/upload-files.js';
import type { Clock } from '../shared/clock.js';
import { RegistryError } from '../shared/errors.js';
import { digestAlgorithm, type Digest, type RepoName } from '../shared/types.js';

/** What the client said about a chunk: Content-Range (inclusive) and/or Content-Length. */
export interface ChunkInfo {
  range?: { start: number; end: number };
  length?: number;
}

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function tooLarge(limit: number): RegistryError {
  return new RegistryError('SIZE_INVALID', `blob is larger than limits.max_blob_size (${limit} bytes)`, { limit }, 413);
}

function unknownUpload(id: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { id: id.slice(0, 100) });
}

export class UploadService {
  private readonly busy = new Set<string>();

  constructor(
    private readonly index: RegistryIndex,
    private readonly content: ContentStore,
    private readonly files: UploadFiles,
    private readonly hasher: FileHasher,
    private readonly clock: Clock,
    /** Largest blob accepted; 0 for no limit. */
    readonly maxBlobSize = 0,
  ) {}

  /** Bytes still free where upload sessions keep their bytes. */
  freeSpace(): Promise<number> {
    return this.files.freeSpace();
  }

  async start(repo: RepoName): Promise<string> {
    const id = randomUUID();
    await this.files.create(id);
    try {
      await this.index.createUpload(id, repo, this.clock.now());
    } catch (err) {
      // No session row (a full index, say): its file must not stay behind.
      await this.files.remove(id).catch(() => undefined);
      throw err;
    }
    return id;
  }

  /** Links a blob that `from` may see into `repo`; false when there is nothing to mount. */
  async mount(repo: RepoName, digest: Digest, from: RepoName): Promise<boolean> {
    const size = await this.index.repositoryBlobSize(from, digest);
    if (size === undefined || (await this.content.size(digest)) !== size) return false;
    await this.index.linkBlob(repo, digest, size, this.clock.now());
    return true;
  }

  /** Bytes received so far. */
  async offset(repo: RepoName, id: string): Promise<number> {
    await this.session(repo, id);
    const size = await this.files.size(id);
    if (size === undefined) throw unknownUpload(id);
    return size;
  }

  /** Appends a chunk; returns the new offset. */
  async append(repo: RepoName, id: string, body: Readable, chunk: ChunkInfo): Promise<number> {
    await this.session(repo, id);
    return this.exclusive(id, () => this.write(id, body, chunk));
  }

  /** Appends an optional last chunk, verifies the digest and makes the blob visible in `repo`. */
  async finish(repo: RepoName, id: string, digest: Digest, body: Readable | undefined, chunk: ChunkInfo): Promise<void> {
    await this.session(repo, id);
    await this.exclusive(id, async () => {
      if (body) await this.write(id, body, chunk);
      const size = (await this.files.size(id)) ?? 0;
      const actual = await this.hasher.digest(id, this.files.path(id), size, digestAlgorithm(digest));
      if (actual !== digest) {
        await this.discard(id);
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { expected: digest, actual });
      }
      await this.content.commitFile(this.files.path(id), digest);
      await this.index.linkBlob(repo, digest, size, this.clock.now());
      await this.index.deleteUpload(id);
    });
  }

  /** A whole blob in one request (POST ?digest= or PUT without prior chunks). */
  async putMonolithic(repo: RepoName, digest: Digest, body: Readable, chunk: ChunkInfo): Promise<void> {
    const id = await this.start(repo);
    try {
      await this.finish(repo, id, digest, body, chunk);
    } catch (err) {
      await this.discard(id);
      throw err;
    }
  }

  async cancel(repo: RepoName, id: string): Promise<void> {
    await this.session(repo, id);
    await this.discard(id);
  }

  private async session(repo: RepoName, id: string): Promise<void> {
    if (!UPLOAD_ID.test(id)) throw unknownUpload(id);
    const record = await this.index.getUpload(id);
    if (!record || record.repository !== repo) throw unknownUpload(id);
  }

  private async write(id: string, body: Readable, chunk: ChunkInfo): Promise<number> {
    const offset = await this.files.size(id);
    if (offset === undefined) throw unknownUpload(id);
    const { range, length } = chunk;
    if (range && range.start !== offset) {
      body.resume();
      throw new RegistryError('BLOB_UPLOAD_INVALID', `chunk starts at ${range.start} but the upload has ${offset} bytes`, { offset }, 416);
    }
    const expected = range ? range.end - range.start + 1 : length;
    if (range && length !== undefined && length !== expected) {
      body.resume();
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'Content-Length does not match Content-Range', { range, length });
    }
    const room = this.maxBlobSize > 0 ? this.maxBlobSize - offset : Infinity;
    if (expected !== undefined && expected > room) {
      body.resume();
      throw tooLarge(this.maxBlobSize);
    }
    const path = this.files.path(id);
    let written: number;
    try {
      written = await this.files.append(id, offset, body, Math.min(expected ?? Infinity, room), (length) => this.hasher.advance(id, path, length));
    } catch (err) {
      this.hasher.forget(id);
      if (err instanceof TooLargeError) {
        if (expected === undefined || expected > room) throw tooLarge(this.maxBlobSize);
        throw new RegistryError('BLOB_UPLOAD_INVALID', `chunk is longer than the ${err.limit} bytes declared`, { declared: err.limit });
      }
      throw err;
    }
    if (expected !== undefined && written !== expected) {
      this.hasher.forget(id);
      await this.files.truncate(id, offset);
      throw new RegistryError('BLOB_UPLOAD_INVALID', `chunk has ${written} bytes but ${expected} were declared`, { declared: expected, received: written });
    }
    await this.index.touchUpload(id, this.clock.now());
    return offset + written;
  }

  private async exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    if (this.busy.has(id)) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'another request is writing to this upload', { id }, 416);
    }
    this.busy.add(id);
    try {
      return await work();
    } finally {
      this.busy.delete(id);
    }
  }

  private async discard(id: string): Promise<void> {
    this.hasher.forget(id);
    await this.files.remove(id);
    await this.index.deleteUpload(id);
  }
}
