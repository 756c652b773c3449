/**
 * Content-addressed bytes on the local filesystem. A file only appears at its digest's
 * path after it was fully written, verified by the caller, fsynced and renamed into place,
 * so a reader never sees a partial blob. See paths.ts for the layout.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, rename, stat, unlink, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../shared/types.js';
import { BufferPool } from './buffer-pool.js';
import { sendFile } from './file-sender.js';
import { blobPath, ingestDir } from './paths.js';
import { asStorageError, ContentIntegrityError, translated } from './storage-errors.js';

/** An inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobStatter {
  /** Size in bytes, or undefined when the content is not stored. */
  size(digest: Digest): Promise<number | undefined>;
  /** Resolves when the stored file has `size` bytes (the index's); a ContentIntegrityError otherwise. */
  verify(digest: Digest, size: number): Promise<void>;
}

export interface BlobProvider {
  read(digest: Digest, range?: ByteRange): Readable;
  /**
   * Writes the content (or a range) to dest without ending it: the fast path for responses.
   * `size` is the length recorded in the index: a missing file or one of another length is
   * a ContentIntegrityError before anything is written.
   */
  send(digest: Digest, dest: Writable, size: number, range?: ByteRange): Promise<void>;
  /** Reads small content (manifests) whole; refuses more than maxBytes. */
  readBytes(digest: Digest, maxBytes: number): Promise<Buffer>;
}

export interface BlobIngester {
  /** A fresh path in the temporary root for a caller to write to before commitFile. */
  tempPath(): Promise<string>;
  /** Makes a fully written and verified file visible under its digest (fsync, then rename). */
  commitFile(tempPath: string, digest: Digest): Promise<void>;
  writeBytes(digest: Digest, bytes: Uint8Array): Promise<void>;
}

export interface BlobRemover {
  remove(digest: Digest): Promise<boolean>;
}

export type ContentStore = BlobStatter & BlobProvider & BlobIngester & BlobRemover;

// 1 MiB reads: 4 MiB measured no faster within this machine's noise, and every buffer in
// flight or awaiting collection counts against the server's memory during large transfers.
const READ_CHUNK = 1 << 20;
/** Idle send buffers kept for reuse: enough for 8 concurrent GETs (2 each). */
const IDLE_SEND_BUFFERS = 16;

export class FsContentStore implements ContentStore {
  private readonly sendBuffers = new BufferPool(READ_CHUNK, IDLE_SEND_BUFFERS);

  constructor(
    private readonly root: string,
    private readonly tempRoot: string,
  ) {}

  async size(digest: Digest): Promise<number | undefined> {
    try {
      return (await stat(blobPath(this.root, digest))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async verify(digest: Digest, size: number): Promise<void> {
    const path = blobPath(this.root, digest);
    let actual: number | undefined;
    try {
      actual = (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (actual !== size) throw new ContentIntegrityError(digest, path, size, actual);
  }

  read(digest: Digest, range?: ByteRange): Readable {
    return createReadStream(blobPath(this.root, digest), {
      highWaterMark: READ_CHUNK,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
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
    const bytes = await readFile(blobPath(this.root, digest));
    if (bytes.length > maxBytes) throw new Error(`content ${digest} is larger than ${maxBytes} bytes`);
    return bytes;
  }

  tempPath(): Promise<string> {
    return translated(async () => {
      const dir = ingestDir(this.tempRoot);
      await mkdir(dir, { recursive: true });
      return join(dir, randomUUID());
    });
  }

  commitFile(tempPath: string, digest: Digest): Promise<void> {
    return translated(() => this.commit(tempPath, digest));
  }

  private async commit(tempPath: string, digest: Digest): Promise<void> {
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

  async writeBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    const temp = await this.tempPath();
    try {
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(bytes);
      } finally {
        await handle.close();
      }
      await this.commit(temp, digest);
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
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
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
