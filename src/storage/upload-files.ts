/**
 * The bytes of upload sessions, one file per session under the temporary root
 * (paths.ts). Appends are all-or-nothing: a chunk that fails half way is cut off again,
 * so the file always ends at the last acknowledged offset.
 */
import { mkdir, open, stat, truncate, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileAppender } from './file-appender.js';
import { FlushBehind } from './flush-behind.js';
import { statfsFreeSpace, type FreeSpace } from './free-space.js';
import { uploadPath, uploadsDir } from './paths.js';
import { asStorageError, translated } from './storage-errors.js';

/** Upload bytes are flushed to disk behind the writes every this many bytes (flush-behind.ts). */
const FLUSH_EVERY = 8 * 1024 * 1024;

export class UploadFiles {
  constructor(
    private readonly tempRoot: string,
    private readonly measure: FreeSpace = statfsFreeSpace,
  ) {}

  /** Bytes still free on the filesystem of the temporary root. */
  freeSpace(): Promise<number> {
    return this.measure(this.tempRoot);
  }

  path(id: string): string {
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
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Writes `source` at `offset`, at most `limit` bytes; `landed` hears the file's length each
   * time written bytes have reached it. Returns the number of bytes written. On any failure
   * the file is truncated back to `offset`.
   */
  async append(id: string, offset: number, source: Readable, limit = Infinity, landed: (length: number) => void = () => undefined): Promise<number> {
    const flush = new FlushBehind(this.path(id), FLUSH_EVERY);
    const handle = await open(this.path(id), 'r+');
    const sink = new FileAppender(handle, offset, {
      limit,
      written: (bytes) => {
        flush.wrote(bytes);
        landed(offset + bytes);
      },
    });
    try {
      await pipeline(source, sink);
      // A whole chunk (an 8 MiB PATCH, say) starts its own flush on the way out.
      flush.wrote(Infinity);
      return sink.bytes;
    } catch (err) {
      // close() waits for a write still under way, which must not land after the truncate.
      await handle.close().catch(() => undefined);
      await truncate(this.path(id), offset).catch(() => undefined);
      throw asStorageError(err);
    } finally {
      await handle.close().catch(() => undefined);
      flush.close().catch(() => undefined);
    }
  }

  truncate(id: string, size: number): Promise<void> {
    return translated(() => truncate(this.path(id), size));
  }

  async remove(id: string): Promise<void> {
    await unlink(this.path(id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}
