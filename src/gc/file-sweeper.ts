/**
 * Removing files safely while the server runs. Every removal takes the same steps: the file
 * is first renamed aside, then checked: if it was written within the grace period (a push or
 * proxy download committed the same digest again) or the index knows it again, it is put back
 * (content under a digest is identical, so whichever copy wins is right); otherwise it is
 * unlinked. That holds for content GC deleted the row of, and for files the index did not know
 * when a scan found them (left by a crash, old temporary files): a scan can take long, and
 * what it found may be pushed again before it is deleted.
 */
import { randomBytes } from 'node:crypto';
import { link, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { blobPath, ingestDir, uploadsDir } from '../storage/fs/paths.js';
import type { Digest } from '../shared/types.js';

const HEX = /^[a-f0-9]+$/;
/** The name a file is renamed to while GC decides about it; one left by an interrupted run is found again. */
const ASIDE = /^(.+)\.gc-[a-f0-9]{12}$/;

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Decides about a file already renamed aside from `home`: back if fresh or known again, else unlinked (its size returned). */
async function settle(aside: string, home: string, cutoff: number, knownAgain: () => boolean): Promise<number | undefined> {
  const info = await stat(aside);
  if (info.mtimeMs >= cutoff || knownAgain()) {
    await link(aside, home).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    await unlink(aside);
    return undefined;
  }
  await unlink(aside);
  return info.size;
}

/** Removes the file at `path` unless it is fresh or `knownAgain()`; returns the bytes freed, undefined when kept or gone. */
export async function removeChecked(path: string, cutoff: number, knownAgain: () => boolean): Promise<number | undefined> {
  const aside = `${path}.gc-${randomBytes(6).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return settle(aside, path, cutoff, knownAgain);
}

/** Removes the content file of `digest` unless it is fresh or known again; returns the bytes freed. */
export async function removeContent(root: string, digest: Digest, cutoff: number, knownAgain: () => boolean): Promise<number> {
  return (await removeChecked(blobPath(root, digest), cutoff, knownAgain)) ?? 0;
}

export interface StrayFile {
  path: string;
  size: number;
  /** Where the file belongs, when it is a leftover of an interrupted GC run (renamed aside). */
  home?: string;
  /** Whether the index knows the file (again): asked once more after it is renamed aside. */
  known: () => boolean;
}

/** Removes a file a scan found, under the same rule as any other: returns the bytes freed, undefined when kept. */
export function removeStray(file: StrayFile, cutoff: number): Promise<number | undefined> {
  if (file.home === undefined) return removeChecked(file.path, cutoff, file.known);
  return settle(file.path, file.home, cutoff, file.known).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
}

/** A directory entry as a stray candidate: its home if it was left aside, and the name the index knows it by. */
function candidate(dir: string, name: string): { home?: string; key: string } {
  const left = ASIDE.exec(name)?.[1];
  return left === undefined ? { key: name } : { home: join(dir, left), key: left };
}

/**
 * Content files under `root/blobs` older than `cutoff`: their digest is offered to `isKnown`;
 * unknown ones, and leftovers of interrupted GC runs (which go back home if known), are returned.
 */
export async function strayContent(root: string, cutoff: number, isKnown: (digest: Digest) => boolean): Promise<StrayFile[]> {
  const stray: StrayFile[] = [];
  const blobs = join(root, 'blobs');
  for (const algorithm of await entries(blobs)) {
    for (const prefix of await entries(join(blobs, algorithm))) {
      const dir = join(blobs, algorithm, prefix);
      for (const name of await entries(dir)) {
        const { home, key } = candidate(dir, name);
        const digest = HEX.test(key) ? (`${algorithm}:${key}` as Digest) : undefined;
        const known = (): boolean => digest !== undefined && isKnown(digest);
        // Known content needs no stat: only names the index lacks (and leftovers) are looked at closer.
        if (home === undefined && known()) continue;
        const path = join(dir, name);
        const info = await stat(path).catch(() => undefined);
        if (!info?.isFile() || info.mtimeMs >= cutoff) continue;
        stray.push({ path, size: info.size, known, ...(home !== undefined ? { home } : {}) });
      }
    }
  }
  return stray;
}

/** Temporary files older than `cutoff`: ingest leftovers, and upload files whose session is gone. */
export async function strayTemporary(tempRoot: string, cutoff: number, uploadKnown: (id: string) => boolean): Promise<StrayFile[]> {
  const stray: StrayFile[] = [];
  for (const [dir, keep] of [
    [ingestDir(tempRoot), () => false],
    [uploadsDir(tempRoot), uploadKnown],
  ] as const) {
    for (const name of await entries(dir)) {
      const { home, key } = candidate(dir, name);
      const known = (): boolean => keep(key);
      if (home === undefined && known()) continue;
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (info?.isFile() && info.mtimeMs < cutoff) stray.push({ path, size: info.size, known, ...(home !== undefined ? { home } : {}) });
    }
  }
  return stray;
}

/**
 * Removes a file whose index row GC has just deleted (an upload session's bytes: the row was
 * the only way to reach them, so nothing can claim the file again); returns its size, or
 * undefined if it was already gone. With `dryRun` only its size is read.
 */
export async function removeFile(path: string, dryRun = false): Promise<number | undefined> {
  try {
    const { size } = await stat(path);
    if (!dryRun) await unlink(path);
    return size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
