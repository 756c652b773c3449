/**
 * Blob upload sessions: start, append chunks, finish with a digest, cancel, and
 * cross-repository mounts. Sessions are recorded in the index and their bytes in the
 * backend's upload store, so they survive a restart. How the digest is worked out is the
 * store's business (the filesystem driver follows each file with a hasher off the main
 * thread); this service only checks it before the blob becomes visible.
 *
 * Nothing about a session lives in this process: its record and its writer's hold are in the
 * index (upload-claim.ts), its bytes and offset in the upload store, so the POST, each PATCH
 * and the PUT of one upload may reach different replicas.
 */
import { randomUUID } from 'node:crypto';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import type { BlobStatter } from '../storage/blob-store.js';
import { TooLargeError } from '../storage/storage-errors.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import type { UploadStore } from '../storage/upload-store.js';
import type { Clock } from '../primitives/clock.js';
import { RegistryError } from '../primitives/errors.js';
import { digestAlgorithm, type Digest, type RepoName } from '../primitives/types.js';
import { DEFAULT_CLAIM, uploadBusy, withUploadClaim, type ClaimSettings } from './upload-claim.js';

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
  constructor(
    private readonly index: RegistryIndex,
    private readonly content: BlobStatter,
    private readonly files: UploadStore,
    private readonly clock: Clock,
    /** Largest blob accepted; 0 for no limit. */
    readonly maxBlobSize = 0,
    private readonly claim: ClaimSettings = DEFAULT_CLAIM,
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
    return this.exclusive(id, body, (lost) => this.write(id, body, chunk, lost));
  }

  /** Appends an optional last chunk, verifies the digest and makes the blob visible in `repo`. */
  async finish(repo: RepoName, id: string, digest: Digest, body: Readable | undefined, chunk: ChunkInfo): Promise<void> {
    await this.session(repo, id);
    await this.exclusive(id, body, async (lost) => {
      if (body) await this.write(id, body, chunk, lost);
      if (lost.aborted) throw lost.reason;
      const size = await this.files.size(id);
      if (size === undefined) throw unknownUpload(id);
      const actual = await this.files.digest(id, digestAlgorithm(digest));
      if (actual !== digest) {
        await this.discard(id);
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { expected: digest, actual });
      }
      await this.files.commit(id, digest);
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

  private async write(id: string, body: Readable, chunk: ChunkInfo, lost: AbortSignal): Promise<number> {
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
    let written: number;
    // A lost hold stops the chunk: the store's append fails and keeps the session at `offset`.
    const stop = (): void => void body.destroy(lost.reason as Error);
    lost.addEventListener('abort', stop, { once: true });
    try {
      written = await this.files.append(id, offset, expected === undefined ? body : declaredLength(body, expected), Math.min(expected ?? Infinity, room));
    } catch (err) {
      if (lost.aborted) throw lost.reason;
      if (err instanceof TooLargeError) {
        if (expected === undefined || expected > room) throw tooLarge(this.maxBlobSize);
        throw new RegistryError('BLOB_UPLOAD_INVALID', `chunk is longer than the ${err.limit} bytes declared`, { declared: err.limit });
      }
      if (err instanceof ShortChunkError) {
        throw new RegistryError('BLOB_UPLOAD_INVALID', `chunk has ${err.received} bytes but ${err.declared} were declared`, { declared: err.declared, received: err.received });
      }
      throw err;
    } finally {
      lost.removeEventListener('abort', stop);
    }
    await this.index.touchUpload(id, this.clock.now());
    return offset + written;
  }

  /** Runs `work` holding the session (upload-claim.ts); 416 when another request holds it. */
  private async exclusive<T>(id: string, body: Readable | undefined, work: (lost: AbortSignal) => Promise<T>): Promise<T> {
    const result = await withUploadClaim(this.index, this.clock, this.claim, id, work);
    if (result.claimed) return result.value;
    body?.resume();
    // claimUpload is false for a session that went meanwhile too: that one is unknown, not busy.
    if (!(await this.index.getUpload(id))) throw unknownUpload(id);
    throw uploadBusy(id);
  }

  private async discard(id: string): Promise<void> {
    await this.files.remove(id);
    await this.index.deleteUpload(id);
  }
}

/** A chunk ended before the length its request declared. */
class ShortChunkError extends Error {
  constructor(
    readonly declared: number,
    readonly received: number,
  ) {
    super(`chunk has ${received} bytes but ${declared} were declared`);
    this.name = 'ShortChunkError';
  }
}

/**
 * Fails a chunk that ends short of its declared length, so the upload store's append fails
 * and keeps its all-or-nothing promise (the session stays at its last acknowledged size)
 * whatever the backend. Longer chunks are the store's `limit`.
 */
class DeclaredLength extends Transform {
  private received = 0;

  constructor(private readonly declared: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.received < this.declared ? new ShortChunkError(this.declared, this.received) : null);
  }
}

/** `body`, failing at its end when it is shorter than `declared`; an error of `body` fails it too. */
function declaredLength(body: Readable, declared: number): Readable {
  return pipeline(body, new DeclaredLength(declared), () => undefined);
}
