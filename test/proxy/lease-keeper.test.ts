// Download leases as replicas use them (claim, renew, expiry, release), on the real SQLite
// index two processes would share, with an injected clock: expiry needs no waiting.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { claimLease, type Every, type LeaseDeps } from '../../src/proxy/lease-keeper.js';
import { openDatabase, sqliteIndexes } from '../../src/storage/indexes.js';
import type { IndexSet } from '../../src/storage/index-set.js';
import { ManualClock } from '../support/manual-clock.js';

const TTL = 10_000;
const RENEW = 3_000;

let dir: string;
let indexes: IndexSet[];
let clock: ManualClock;

/** A timer the test fires by hand; records whether it was stopped. */
function manualTimer(): { every: Every; fire: () => void; stopped: () => boolean; interval: () => number | undefined } {
  let tick: (() => void) | undefined;
  let ms: number | undefined;
  let stopped = false;
  return {
    every: (interval, fn) => {
      ms = interval;
      tick = fn;
      return () => {
        stopped = true;
      };
    },
    fire: () => tick?.(),
    stopped: () => stopped,
    interval: () => ms,
  };
}

/** A replica: its own connection to the shared index file, as a separate process has. */
function replica(name: string, every?: Every): LeaseDeps {
  const set = sqliteIndexes(openDatabase(join(dir, 'index.db')), { clock });
  indexes.push(set);
  return { leases: set.leases, clock, logger: pino({ level: 'silent' }), holder: `${name}/nonce`, holderUrl: () => `http://${name}.test:5000`, ttlMs: TTL, renewMs: RENEW, ...(every ? { every } : {}) };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-leases-'));
  indexes = [];
  clock = new ManualClock(1_000_000);
});
afterEach(async () => {
  for (const set of indexes) await set.close();
  await rm(dir, { recursive: true, force: true });
});

describe('download leases between replicas', () => {
  test('one replica wins the claim; the other is told who holds it and where to stream from', async () => {
    const a = replica('a', manualTimer().every);
    const b = replica('b', manualTimer().every);
    const [first, second] = await Promise.all([claimLease(a, 'up/sha256:1'), claimLease(b, 'up/sha256:1')]);
    expect(first.won).toBe(true);
    expect(second).toEqual({ won: false, current: { key: 'up/sha256:1', holder: 'a/nonce', holderUrl: 'http://a.test:5000', expiresAt: 1_000_000 + TTL } });
    // Another blob is another lease.
    expect((await claimLease(b, 'up/sha256:2')).won).toBe(true);
  });

  test('renewal on the timer keeps the lease past its first TTL; without renewal it expires and another replica takes it', async () => {
    const timer = manualTimer();
    const a = replica('a', timer.every);
    const b = replica('b', manualTimer().every);
    const claim = await claimLease(a, 'k');
    if (!claim.won) throw new Error('a should have won');
    expect(timer.interval()).toBe(RENEW);

    clock.advance(RENEW);
    timer.fire();
    await claim.keeper.renew(); // the renewal the tick started (one at a time)
    clock.advance(TTL - 1); // past the first expiry, not past the renewed one
    expect(await claimLease(b, 'k')).toMatchObject({ won: false, current: { holder: 'a/nonce', expiresAt: 1_000_000 + RENEW + TTL } });

    clock.advance(1); // exactly at expiry: free
    expect((await claimLease(b, 'k')).won).toBe(true);
    // a renews too late: it hears it lost, and cannot take the lease back by renewing.
    expect(await claim.keeper.renew()).toBe(false);
    expect(claim.keeper.lost).toBe(true);
    expect(await claimLease(a, 'k')).toMatchObject({ won: false, current: { holder: 'b/nonce' } });
  });

  test('release stops the renewals and frees the lease at once; a late release never frees another replica\'s lease', async () => {
    const timer = manualTimer();
    const a = replica('a', timer.every);
    const b = replica('b', manualTimer().every);
    const c = replica('c', manualTimer().every);
    const claim = await claimLease(a, 'k');
    if (!claim.won) throw new Error('a should have won');
    await claim.keeper.release();
    expect(timer.stopped()).toBe(true);
    const taken = await claimLease(b, 'k');
    expect(taken.won).toBe(true);

    // a (released, then confused) releases again: b keeps its lease.
    await claim.keeper.release();
    expect(await claimLease(c, 'k')).toMatchObject({ won: false, current: { holder: 'b/nonce' } });
  });

  test('a restarted replica (same name, new nonce) does not inherit its dead predecessor\'s lease', async () => {
    const before = replica('a', manualTimer().every);
    expect((await claimLease(before, 'k')).won).toBe(true);
    const after = { ...replica('a', manualTimer().every), holder: 'a/other-nonce' };
    expect(await claimLease(after, 'k')).toMatchObject({ won: false, current: { holder: 'a/nonce' } });
    clock.advance(TTL);
    expect((await claimLease(after, 'k')).won).toBe(true);
  });
});
