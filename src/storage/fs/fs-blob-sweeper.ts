/**
 * GC's view of a filesystem blob store (layout in ../paths.ts): listing the content files,
 * and removing one safely while the server runs. Every removal takes the same steps: the
 * file is first renamed aside (`<hex>.gc-<random>`), then checked: if it was written at or
 * after the cutoff (a push or proxy download committed the same digest again) or the index
 * wants it again, it is linked back (content under a digest is identical, so whichever copy
 * wins is right); otherwise it is unlinked. A file an interrupted run left aside is listed
 * under its digest and put back home by sweepLeftovers, so the index decides about it again.
 * The file steps run on a worker thread (sweep-worker.ts); the decision stays here.
 */
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../../primitives/types.js';
import type { BlobSweeper, Leftover, StoredBlob } from '../blob-store.js';
import { blobPath, ingestDir } from './paths.js';
import { SweepWorker } from './sweep-worker.js';

const HEX = /^[a-f0-9]+$/;
/** The name a file is renamed to while GC decides about it; one left by an interrupted run is found again. */
const ASIDE = /^(.+)\.gc-[a-f0-9]{12}$/;
/** stat() calls in flight while listing (libuv thread pool). */
const STAT_CONCURRENCY = 64;
/**
 * Removals in flight: their steps go to the worker together (sweep-worker.ts), so the more there
 * are, the fewer messages. With 32 a message, half a million removals after GC's row deletes
 * took about 11 s of round trips; with 1,024 a message carries about 10 ms of the worker's work.
 */
const REMOVALS_IN_FLIGHT = 1024;

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function fileInfo(path: string): Promise<{ size: number; mtimeMs: number } | undefined> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  return info?.isFile() ? info : undefined;
}

export class FsBlobSweeper implements BlobSweeper {
  readonly removalConcurrency = REMOVALS_IN_FLIGHT;
  private readonly worker = new SweepWorker();
  /** Aside names: this sweeper's random prefix and a counter, unique without a random draw per file. */
  private readonly asidePrefix = randomBytes(3).toString('hex');
  private asideCount = 0;

  constructor(
    private readonly root: string,
    private readonly tempRoot: string,
  ) {}

  /** Stops the worker (it also stops by itself when idle). */
  close(): Promise<void> {
    return this.worker.close();
  }

  private asideName(path: string): string {
    this.asideCount = (this.asideCount + 1) % 0x1000000;
    return `${path}.gc-${this.asidePrefix}${this.asideCount.toString(16).padStart(6, '0')}`;
  }

  /** Puts `aside` back at `home` (if home has a copy already, that one is the same content). */
  private async putBack(aside: string, home: string): Promise<void> {
    await this.worker.run({ op: 'back', aside, home });
  }

  /**
   * Removes the file at `path` unless it was written at or after `cutoff` or `wanted()` says so
   * once it is aside; returns the bytes freed, undefined when kept or already gone.
   */
  private async removeChecked(path: string, cutoff: number, wanted: () => boolean | Promise<boolean>): Promise<number | undefined> {
    const aside = this.asideName(path);
    // Renamed and read in one step; the worker puts the file back itself if it cannot read it.
    const found = await this.worker.run({ op: 'aside', path, aside });
    if (found.gone || found.size === undefined || found.mtimeMs === undefined) return undefined;
    let keep: boolean;
    try {
      keep = found.mtimeMs >= cutoff || (await wanted());
    } catch (err) {
      // Undecided: the file goes back rather than stay aside, where readers cannot find it.
      await this.putBack(aside, path);
      throw err;
    }
    if (keep) {
      await this.putBack(aside, path);
      return undefined;
    }
    await this.worker.run({ op: 'drop', aside });
    return found.size;
  }

  /** The directories content files live in: blobs/<algorithm>/<prefix>. */
  private async *contentDirs(): AsyncGenerator<{ algorithm: string; dir: string }> {
    const blobs = join(this.root, 'blobs');
    for (const algorithm of await entries(blobs)) {
      for (const prefix of await entries(join(blobs, algorithm))) yield { algorithm, dir: join(blobs, algorithm, prefix) };
    }
  }

  async *list(skip?: (digests: readonly Digest[]) => Promise<ReadonlySet<string>>): AsyncIterable<StoredBlob> {
    for await (const { algorithm, dir } of this.contentDirs()) {
      const names = await entries(dir);
      const present = new Set(names);
      // One file per digest: the home copy, else one a interrupted run left aside.
      const chosen = new Map<string, string>();
      for (const name of names) {
        const key = ASIDE.exec(name)?.[1] ?? name;
        if (!HEX.test(key) || chosen.has(key)) continue;
        if (key !== name && present.has(key)) continue;
        chosen.set(key, name);
      }
      // Content the caller knows needs no stat: on a large store that is most of the time spent here.
      const known = skip ? await skip([...chosen.keys()].map((key) => `${algorithm}:${key}` as Digest)) : undefined;
      const found = [...chosen].filter(([key]) => !known?.has(`${algorithm}:${key}`));
      for (let i = 0; i < found.length; i += STAT_CONCURRENCY) {
        const infos = await Promise.all(found.slice(i, i + STAT_CONCURRENCY).map(([key, name]) => fileInfo(join(dir, name)).then((info) => ({ key, info }))));
        for (const { key, info } of infos) {
          if (info) yield { digest: `${algorithm}:${key}` as Digest, size: info.size, modified: info.mtimeMs };
        }
      }
    }
  }

  removeUnwanted(digest: Digest, cutoff: number, wanted: () => boolean | Promise<boolean>): Promise<number> {
    return this.removeChecked(blobPath(this.root, digest), cutoff, wanted).then((freed) => freed ?? 0);
  }

  async *leftovers(cutoff: number): AsyncIterable<Leftover> {
    const dir = ingestDir(this.tempRoot);
    for (const name of await entries(dir)) {
      const path = join(dir, name);
      const info = await fileInfo(path);
      if (info && info.mtimeMs < cutoff) yield { name: path, size: info.size, modified: info.mtimeMs };
    }
  }

  async sweepLeftovers(cutoff: number, removed?: (leftover: Leftover) => void): Promise<number> {
    // Content an interrupted run set aside goes home first: the index decides about it again.
    for await (const { dir } of this.contentDirs()) {
      for (const name of await entries(dir)) {
        const home = ASIDE.exec(name)?.[1];
        if (home === undefined) continue;
        await this.putBack(join(dir, name), join(dir, home)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
    }
    let freed = 0;
    for await (const leftover of this.leftovers(cutoff)) {
      // Nothing claims a temporary file again; the rename-aside still keeps one written meanwhile.
      const size = await this.removeChecked(leftover.name, cutoff, () => false);
      if (size === undefined) continue;
      freed += size;
      removed?.({ ...leftover, size });
    }
    return freed;
  }
}
