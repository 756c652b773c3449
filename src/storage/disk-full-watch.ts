/**
 * Remembers that a write found the disk full, for readiness: until the filesystems of the
 * stores have room again, /ready says so. The check is statfs(2) on each root, made only
 * while a full disk was seen, so a registry that never filled up pays nothing for it.
 * "Room again" is the smaller of 64 MiB and 5% of the filesystem free: enough that the next
 * push will not fail at once, without asking a small disk for more than it holds.
 */
import { statfs } from 'node:fs/promises';

const ROOM_BYTES = 64 * 1024 * 1024;
const ROOM_FRACTION = 0.05;

export class DiskFullWatch {
  private full = false;

  /** `roots`: name → a directory on each filesystem the stores and the index write to. */
  constructor(private readonly roots: Readonly<Record<string, string>>) {}

  /** A write failed because the disk (or the index on it) is full. */
  sawFull(): void {
    this.full = true;
  }

  /** One line per filesystem still short of room since a write found it full; none once all have room. */
  async problems(): Promise<string[]> {
    if (!this.full) return [];
    const problems: string[] = [];
    for (const [name, root] of Object.entries(this.roots)) {
      const fs = await statfs(root);
      const free = fs.bavail * fs.bsize;
      const room = Math.min(ROOM_BYTES, fs.blocks * fs.bsize * ROOM_FRACTION);
      if (free < room) problems.push(`${name}: disk full (${free} bytes free; a write failed for lack of space)`);
    }
    if (problems.length === 0) this.full = false;
    return problems;
  }
}
