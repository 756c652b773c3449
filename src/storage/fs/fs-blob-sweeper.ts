/**
 * GC's view of a filesystem blob store (BlobSweeper): the blobs under blobs/, removal that
 * never takes content back from a writer (rename aside, check, link back, as
 * src/gc/file-sweeper.ts removeChecked), and leftovers of interrupted writes in ingest/.
 * Kept small on purpose: GC's own version of this file replaces it.
 */
import { randomBytes } from 'node:crypto';
import { link, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../../shared/types.js';
import type { BlobSweeper, StoredBlob } from '../blob-store.js';
import { blobPath, ingestDir } from './paths.js';

const HEX = /^[a-f0-9]+$/;

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export class FsBlobSweeper implements BlobSweeper {
  constructor(
    private readonly root: string,
    private readonly tempRoot: string,
  ) {}

  async *list(): AsyncIterable<StoredBlob> {
    const blobs = join(this.root, 'blobs');
    for (const algorithm of await entries(blobs)) {
      for (const prefix of await entries(join(blobs, algorithm))) {
        for (const hex of await entries(join(blobs, algorithm, prefix))) {
          if (!HEX.test(hex)) continue;
          const info = await stat(join(blobs, algorithm, prefix, hex)).catch(() => undefined);
          if (info?.isFile()) yield { digest: `${algorithm}:${hex}` as Digest, size: info.size, modified: info.mtimeMs };
        }
      }
    }
  }

  async removeUnwanted(digest: Digest, cutoff: number, wanted: () => boolean | Promise<boolean>): Promise<number> {
    const home = blobPath(this.root, digest);
    const aside = `${home}.gc-${randomBytes(6).toString('hex')}`;
    try {
      await rename(home, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    const info = await stat(aside);
    if (info.mtimeMs >= cutoff || (await wanted())) {
      // Content under a digest is identical: whichever copy is home now is right.
      await link(aside, home).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      await unlink(aside);
      return 0;
    }
    await unlink(aside);
    return info.size;
  }

  async sweepLeftovers(cutoff: number): Promise<number> {
    const dir = ingestDir(this.tempRoot);
    let freed = 0;
    for (const name of await entries(dir)) {
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (!info?.isFile() || info.mtimeMs >= cutoff) continue;
      await unlink(path).then(
        () => (freed += info.size),
        () => undefined,
      );
    }
    return freed;
  }
}
