/** The GC lock as a lock file next to the SQLite index (proper-lockfile): `<database>.gc.lock`. */
import lockfile from 'proper-lockfile';
import { GcLockedError, type GcLock } from '../storage/gc-lock.js';

export function gcLockPath(database: string): string {
  return `${database}.gc.lock`;
}

export class FileGcLock implements GcLock {
  private held: (() => Promise<void>) | undefined;

  constructor(private readonly database: string) {}

  async acquire(): Promise<void> {
    const lockPath = gcLockPath(this.database);
    try {
      // The lock refreshes its mtime while held; one left by a crashed run is stale after a minute.
      this.held = await lockfile.lock(this.database, { lockfilePath: lockPath, realpath: false, stale: 60_000, update: 10_000, retries: 0 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw new GcLockedError(lockPath);
      throw err;
    }
  }

  async release(): Promise<void> {
    const release = this.held;
    this.held = undefined;
    if (release) await release();
  }
}
