/**
 * Free space of a filesystem, as the rest of the code sees it: injected (like the clock), so
 * the limits that depend on it can be tested without filling a disk.
 */
import { statfs } from 'node:fs/promises';

/** Bytes an unprivileged process may still write on the filesystem holding `path`. */
export type FreeSpace = (path: string) => Promise<number>;

export const statfsFreeSpace: FreeSpace = async (path) => {
  const s = await statfs(path);
  return s.bavail * s.bsize;
};
