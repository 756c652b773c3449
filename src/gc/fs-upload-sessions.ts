/**
 * The part of the filesystem UploadStore GC needs (list and remove), over the layout of
 * storage/paths.ts. A stand-in on this branch: the filesystem UploadStore of src/storage/fs/
 * implements both, and wiring.ts switches to it.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { uploadPath, uploadsDir } from '../storage/paths.js';
import type { UploadSession, UploadStore } from '../storage/upload-store.js';

/** What GC does with upload sessions: find the abandoned ones, remove them. */
export type GcUploads = Pick<UploadStore, 'list' | 'remove'>;

export class FsUploadSessions implements GcUploads {
  constructor(private readonly tempRoot: string) {}

  async *list(): AsyncIterable<UploadSession> {
    const dir = uploadsDir(this.tempRoot);
    const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    for (const id of names) {
      const info = await stat(join(dir, id)).catch(() => undefined);
      if (info?.isFile()) yield { id, size: info.size, modified: info.mtimeMs };
    }
  }

  async remove(id: string): Promise<void> {
    await unlink(uploadPath(this.tempRoot, id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}
