/**
 * The filesystem driver's upload store: the bytes of each upload session in one file under
 * the temporary root (paths.ts). Appends are all-or-nothing: a chunk that fails half way is
 * cut off again, so the file always ends at the last acknowledged offset. Written bytes are
 * flushed behind the writes (flush-behind.ts) and followed by the off-thread hasher
 * (file-hasher.ts), so digest() at the end has little left to do; commit() renames the file
 * into the filesystem blob store (no copy).
 *
 * Several processes on one filesystem (replicas sharing a volume) may each take chunks of one
 * session: the size is the file's, read every time, and a process's hasher reads on from where
 * it stopped to the size asked for. What it hashed cannot change under it: only one request at
 * a time writes a session (the index's upload claim), and a failed chunk is cut back to the
 * size it started at, never below a byte another process already acknowledged.
 */
import { mkdir, open, readdir, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest, DigestAlgorithm } from '../../primitives/types.js';
import { asStorageError, translated } from '../storage-errors.js';
import type { UploadSession, UploadStore } from '../upload-store.js';
import { FileAppender } from './file-appender.js';
import type { FileHasher } from './file-hasher.js';
import { FlushBehind } from './flush-behind.js';
import { statfsFreeSpace, type FreeSpace } from './free-space.js';
import type { FsBlobStore } from './fs-blob-store.js';
import { uploadPath, uploadsDir } from './paths.js';

/** Upload bytes are flushed to disk behind the writes every this many bytes (flush-behind.ts). */
const FLUSH_EVERY = 8 * 1024 * 1024;

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class FsUploadStore implements UploadStore {
  constructor(
    private readonly tempRoot: string,
    private readonly blobs: FsBlobStore,
    private readonly hasher: FileHasher,
    private readonly measure: FreeSpace = statfsFreeSpace,
  ) {}

  /** Bytes still free on the filesystem of the temporary root. */
  freeSpace(): Promise<number> {
    return this.measure(this.tempRoot);
  }

  private path(id: string): string {
    return uploadPath(this.tempRoot, id);
  }

  create(id: string): Promise<void> {
    return translated(async () => {
      await mkdir(uploadsDir(this.tempRoot), { recursive: true });
      const handle = await open(this.path(id), 'wx');
      await handle.close();
    });
  }

  async size(id: string): Promise<number | undefined> {
    try {
      return (await stat(this.path(id))).size;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async append(id: string, offset: number, source: Readable, limit = Infinity, landed: (length: number) => void = () => undefined): Promise<number> {
    const path = this.path(id);
    const flush = new FlushBehind(path, FLUSH_EVERY);
    const handle = await translated(() => open(path, 'r+'));
    const sink = new FileAppender(handle, offset, {
      limit,
      written: (bytes) => {
        flush.wrote(bytes);
        // Only bytes that landed are offered to the hasher: it reads them back from the page cache.
        this.hasher.advance(id, path, offset + bytes);
        landed(offset + bytes);
      },
    });
    try {
      await pipeline(source, sink);
      // A whole chunk (an 8 MiB PATCH, say) starts its own flush on the way out.
      flush.wrote(Infinity);
      return sink.bytes;
    } catch (err) {
      this.hasher.forget(id);
      // close() waits for a write still under way, which must not land after the truncate.
      await handle.close().catch(() => undefined);
      await truncate(path, offset).catch(() => undefined);
      throw asStorageError(err);
    } finally {
      await handle.close().catch(() => undefined);
      flush.close().catch(() => undefined);
    }
  }

  async digest(id: string, algorithm: DigestAlgorithm): Promise<Digest> {
    const size = await this.size(id);
    if (size === undefined) throw new Error(`upload ${id} has no bytes stored`);
    return (await this.hasher.digest(id, this.path(id), size, algorithm)) as Digest;
  }

  async commit(id: string, digest: Digest): Promise<void> {
    this.hasher.forget(id);
    await this.blobs.adopt(this.path(id), digest);
  }

  async remove(id: string): Promise<void> {
    this.hasher.forget(id);
    await unlink(this.path(id)).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }

  async *list(): AsyncIterable<UploadSession> {
    const dir = uploadsDir(this.tempRoot);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const id of names) {
      const info = await stat(join(dir, id)).catch(() => undefined);
      if (info?.isFile()) yield { id, size: info.size, modified: info.mtimeMs };
    }
  }
}
