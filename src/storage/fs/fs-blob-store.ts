/**
 * The filesystem driver's blob store: content-addressed bytes on the local filesystem. A file
 * only appears at its digest's path after it was fully written, its digest checked, fsynced
 * and renamed into place (fs-blob-writer.ts), so a reader never sees a partial blob. See
 * paths.ts for the layout. GC's view (list, removeUnwanted, sweepLeftovers) is the sweeper
 * given to the constructor (fs-blob-sweeper.ts).
 */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { copyFile, mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../../primitives/types.js';
import type { BlobStore, BlobSweeper, BlobWriter, ByteRange, Leftover, StoredBlob } from '../blob-store.js';
import { asStorageError, BlobNotFoundError, ContentIntegrityError, TooLargeError, translated } from '../storage-errors.js';
import { sendFile } from './file-sender.js';
import { SendBuffers } from './send-buffers.js';
import type { FileHasher } from './file-hasher.js';
import { FsBlobWriter } from './fs-blob-writer.js';
import { blobPath, ingestDir } from './paths.js';

// reader() streams (GC, imports, exports: not responses, which go through send()) read
// 256 KiB at a time: one such buffer per stream, whatever reads it.
const READ_CHUNK = 256 << 10;
/** Large send buffers of a store built without shared ones (tools and tests): 4 MiB. */
const DEFAULT_SEND_BUDGET = 4 << 20;

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class FsBlobStore implements BlobStore {
  constructor(
    private readonly root: string,
    private readonly tempRoot: string,
    private readonly sweeper: BlobSweeper,
    /** Hashes what writers write, on a worker thread (file-hasher.ts); the backend's, shared with its uploads. */
    private readonly hasher: FileHasher,
    /** Shared by every store of the process, so their budget is one (send-buffers.ts). */
    private readonly sendBuffers: SendBuffers = new SendBuffers({ largeBudget: DEFAULT_SEND_BUDGET }),
  ) {}

  async size(digest: Digest): Promise<number | undefined> {
    try {
      return (await stat(blobPath(this.root, digest))).size;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /**
   * Synchronous on purpose: this is every blob HEAD, and a stat of a local file is one
   * metadata lookup (the index beside it, better-sqlite3, is synchronous too), where the
   * asynchronous stat went through libuv's thread pool: waking a pool thread and being woken
   * back cost more than the lookup, 8% of the CPU of a HEAD load and a share of its latency.
   */
  async verify(digest: Digest, size: number): Promise<void> {
    const path = blobPath(this.root, digest);
    const actual = statSync(path, { throwIfNoEntry: false })?.size;
    if (actual !== size) throw new ContentIntegrityError(digest, path, size, actual);
  }

  /** The content's file, opened for reading; BlobNotFoundError when it is not stored. */
  private async openBlob(digest: Digest): Promise<FileHandle> {
    try {
      return await open(blobPath(this.root, digest), 'r');
    } catch (err) {
      if (isMissing(err)) throw new BlobNotFoundError(digest);
      throw err;
    }
  }

  async reader(digest: Digest, range?: ByteRange): Promise<Readable> {
    const handle = await this.openBlob(digest);
    // The stream owns the handle from here and closes it when it ends or is destroyed.
    return handle.createReadStream({ highWaterMark: READ_CHUNK, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async send(digest: Digest, dest: Writable, size: number, range?: ByteRange): Promise<void> {
    try {
      await sendFile(blobPath(this.root, digest), dest, this.sendBuffers, size, range);
    } catch (err) {
      // sendFile names the file; the digest is what the layers above report.
      if (err instanceof ContentIntegrityError) throw new ContentIntegrityError(digest, err.location, err.expected, err.actual);
      throw err;
    }
  }

  async readBytes(digest: Digest, maxBytes: number): Promise<Buffer> {
    const handle = await this.openBlob(digest);
    try {
      // Refused before it is read: a cap is only worth something if the bytes are not in memory yet.
      if ((await handle.stat()).size > maxBytes) throw new TooLargeError(maxBytes);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  writer(): Promise<BlobWriter> {
    return translated(async () => {
      const path = await this.tempPath();
      const handle = await open(path, 'w+');
      return new FsBlobWriter(path, handle, (written, digest) => this.adopt(written, digest), this.hasher);
    });
  }

  async writeBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    const temp = await translated(() => this.tempPath());
    try {
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(bytes);
      } finally {
        await handle.close();
      }
      await this.adopt(temp, digest);
    } catch (err) {
      // A write that failed (a full disk, most likely) leaves no temporary file behind.
      await unlink(temp).catch(() => undefined);
      throw asStorageError(err);
    }
  }

  async remove(digest: Digest): Promise<boolean> {
    try {
      await unlink(blobPath(this.root, digest));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  list(skip?: (digests: readonly Digest[]) => Promise<ReadonlySet<string>>): AsyncIterable<StoredBlob> {
    return this.sweeper.list(skip);
  }

  get removalConcurrency(): number {
    return this.sweeper.removalConcurrency;
  }

  removeUnwanted(digest: Digest, cutoff: number, wanted: () => boolean | Promise<boolean>): Promise<number> {
    return this.sweeper.removeUnwanted(digest, cutoff, wanted);
  }

  leftovers(cutoff: number): AsyncIterable<Leftover> {
    return this.sweeper.leftovers(cutoff);
  }

  sweepLeftovers(cutoff: number, removed?: (leftover: Leftover) => void): Promise<number> {
    return this.sweeper.sweepLeftovers(cutoff, removed);
  }

  /**
   * Makes a fully written file of this filesystem visible under `digest` (fsync, then rename):
   * the writer's commit, and the filesystem upload store's (an upload file moves, no copy). The
   * caller has checked the digest. Not part of BlobStore: only the filesystem driver has paths.
   */
  adopt(path: string, digest: Digest): Promise<void> {
    return translated(() => this.moveIntoPlace(path, digest));
  }

  private async tempPath(): Promise<string> {
    const dir = ingestDir(this.tempRoot);
    await mkdir(dir, { recursive: true });
    return join(dir, randomUUID());
  }

  private async moveIntoPlace(tempPath: string, digest: Digest): Promise<void> {
    await fsyncFile(tempPath);
    const target = blobPath(this.root, digest);
    await mkdir(dirname(target), { recursive: true });
    try {
      await rename(tempPath, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      // Temporary root on another filesystem: copy to a sibling of the target, then rename there.
      const sibling = `${target}.${randomUUID()}.tmp`;
      await copyFile(tempPath, sibling);
      await fsyncFile(sibling);
      await rename(sibling, target);
      await unlink(tempPath);
    }
    await fsyncDir(dirname(target));
  }
}

export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
