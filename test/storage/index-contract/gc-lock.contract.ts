/**
 * The GcLock contract (src/storage/gc-lock.ts) on every index backend: one GC run per index
 * at a time; a second lock is refused with GcLockedError naming the lock; released, it can
 * be taken again. On PostgreSQL also: the lock goes with its holder's database session, as
 * when the GC process dies.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { GcLockedError } from '../../../src/storage/gc-lock.js';
import type { GcUnderTest, MakeGcIndex } from './gc-fixture.js';

/**
 * `lockName`: what the refusal names. `sessionBound`: the lock goes with its holder's session
 * (PostgreSQL); SQLite's lock file goes stale after a minute instead (file-gc-lock.ts).
 */
export function gcLockContract(name: string, make: MakeGcIndex, options: { lockName: RegExp; sessionBound: boolean }): void {
  describe(`GcLock contract: ${name}`, () => {
    let it: GcUnderTest;

    beforeEach(async () => {
      it = await make();
    });
    afterEach(async () => {
      await it.cleanup();
    });

    test('two GC locks on one index: the second is refused, naming the lock; after release it is taken', async () => {
      const first = it.gcLock();
      const second = it.gcLock();
      await first.acquire();
      try {
        const refused = await second.acquire().then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(refused).toBeInstanceOf(GcLockedError);
        expect((refused as GcLockedError).message).toMatch(/another garbage collection is running/);
        expect((refused as GcLockedError).lockPath).toMatch(options.lockName);
        expect((refused as GcLockedError).message).toContain((refused as GcLockedError).lockPath);
      } finally {
        await first.release();
      }
      await second.acquire();
      // Held by `second` now: `first` is refused in turn.
      await expect(first.acquire()).rejects.toBeInstanceOf(GcLockedError);
      await second.release();
    });

    if (options.sessionBound) {
      test("the lock goes when its holder's database session ends (the GC process died)", async () => {
        if (!it.endGcLockSession) throw new Error('a session-bound lock needs the fixture to end the holder session');
        const holder = it.gcLock();
        await holder.acquire();
        const next = it.gcLock();
        await expect(next.acquire()).rejects.toBeInstanceOf(GcLockedError);
        await it.endGcLockSession();
        await next.acquire();
        await next.release();
        // The dead holder's release finds its connection gone and does not throw.
        await holder.release();
      });
    }
  });
}
