/**
 * Removing content files safely while the server runs. A file is first renamed aside, then
 * checked: if it was written within the grace period (a push or proxy download committed the
 * same digest again) or its index row came back, it is put back (content under a digest is
 * identical, so whichever copy wins is right); otherwise it is unlinked. Also finds files the
 * index does not know (left by a crash) and old temporary files.
 */
import { randomBytes } from 'node:crypto';
import { link, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { blobPath, ingestDir, uploadsDir } from '../storage/paths.js';
import type { Digest } from '../registry/types.js';

const HEX = /^[a-f0-9]+$/;

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Removes the content file of `digest` unless it is fresh or known again; returns the bytes freed. */
export async function removeContent(root: string, digest: Digest, cutoff: number, knownAgain: () => boolean): Promise<number> {
  const path = blobPath(root, digest);
  const aside = `${path}.gc-${randomBytes(6).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  const info = await stat(aside);
  if (info.mtimeMs >= cutoff || knownAgain()) {
    await link(aside, path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    await unlink(aside);
    return 0;
  }
  await unlink(aside);
  return info.size;
}

export interface StrayFile {
  path: string;
  size: number;
  /** The digest the file is stored under, for content files. */
  digest?: Digest;
}

/**
 * Content files under `root/blobs` older than `cutoff`: their digest is offered to `isKnown`;
 * unknown ones, and leftovers of interrupted GC runs, are returned.
 */
export async function strayContent(root: string, cutoff: number, isKnown: (digest: Digest) => boolean): Promise<StrayFile[]> {
  const stray: StrayFile[] = [];
  const blobs = join(root, 'blobs');
  for (const algorithm of await entries(blobs)) {
    for (const prefix of await entries(join(blobs, algorithm))) {
      const dir = join(blobs, algorithm, prefix);
      for (const name of await entries(dir)) {
        // Known content needs no stat: only names the index lacks are looked at closer.
        const digest = HEX.test(name) ? (`${algorithm}:${name}` as Digest) : undefined;
        if (digest && isKnown(digest)) continue;
        const path = join(dir, name);
        const info = await stat(path).catch(() => undefined);
        if (!info?.isFile() || info.mtimeMs >= cutoff) continue;
        stray.push({ path, size: info.size, ...(digest ? { digest } : {}) });
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
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (info?.isFile() && info.mtimeMs < cutoff && !keep(name)) stray.push({ path, size: info.size });
    }
  }
  return stray;
}

export async function removeFile(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
