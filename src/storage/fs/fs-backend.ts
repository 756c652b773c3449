/**
 * The filesystem backend: blobs under a root, upload sessions and writes in progress under
 * the temporary root (paths.ts documents the layout), one hashing worker for uploads and
 * for the store's writers (proxy downloads).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageBackend } from '../backend.js';
import { FileHasher } from './file-hasher.js';
import type { FreeSpace } from './free-space.js';
import { FsBlobStore } from './fs-blob-store.js';
import { FsBlobSweeper } from './fs-blob-sweeper.js';
import { FsUploadStore } from './fs-upload-store.js';
import type { SendBuffers } from './send-buffers.js';

export interface FsBackendOptions {
  root: string;
  tempRoot: string;
  /** Names of the two roots in readiness problems (the settings that chose them). */
  names?: { root: string; tempRoot: string };
  /** How free space is measured (statfs unless a test says otherwise). */
  freeSpace?: FreeSpace;
  /** The process's send buffers (limits.blob_send_memory), shared with the other store. */
  sendBuffers?: SendBuffers;
}

/** Proves `root` takes a write: a probe file created and removed (an empty file still fits on a full disk). */
async function probe(name: string, root: string): Promise<Error | undefined> {
  const path = join(root, `.ready-${randomUUID()}`);
  try {
    await mkdir(root, { recursive: true });
    await writeFile(path, '');
    await unlink(path);
    return undefined;
  } catch (err) {
    return new Error(`${name}: not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

export function createFsBackend(options: FsBackendOptions): StorageBackend {
  const { root, tempRoot } = options;
  const names = options.names ?? { root, tempRoot };
  const hasher = new FileHasher();
  const sweeper = new FsBlobSweeper(root, tempRoot);
  const blobs = new FsBlobStore(root, tempRoot, sweeper, hasher, options.sendBuffers);
  const uploads = new FsUploadStore(tempRoot, blobs, hasher, options.freeSpace);
  return {
    kind: 'filesystem',
    blobs,
    uploads,
    async ready() {
      const problems = (await Promise.all([probe(names.root, root), probe(names.tempRoot, tempRoot)])).filter((p) => p !== undefined);
      const [first] = problems;
      if (problems.length === 1 && first) throw first;
      if (problems.length > 1) throw new AggregateError(problems, problems.map((p) => p.message).join('; '));
    },
    async close() {
      await Promise.all([hasher.close(), sweeper.close()]);
    },
  };
}
