import { describe, expect, test } from '@jest/globals';
import { RepoCache } from '../../src/registry/repo-cache.js';
import type { Digest } from '../../src/primitives/types.js';
import type { ManifestRecord } from '../../src/storage/registry-index.js';
import { ManualClock } from '../support/manual-clock.js';

const record = (n: number): ManifestRecord => ({ digest: `sha256:${String(n).padStart(64, '0')}` as Digest, mediaType: 'x', size: n, artifactType: null, subject: null, annotations: null });

describe('RepoCache', () => {
  test('answers until the TTL runs out', () => {
    const clock = new ManualClock(0);
    const cache = new RepoCache<ManifestRecord>(clock, 1000);
    cache.set('a', 'v1', record(1), cache.generation('a'));
    clock.advance(999);
    expect(cache.get('a', 'v1')).toEqual(record(1));
    clock.advance(1);
    expect(cache.get('a', 'v1')).toBeUndefined();
  });

  test('with a TTL of 0 (a shared index) it keeps nothing, even at the same instant', () => {
    const clock = new ManualClock(0);
    const cache = new RepoCache<ManifestRecord>(clock, 0);
    cache.set('a', 'v1', record(1), cache.generation('a'));
    expect(cache.get('a', 'v1')).toBeUndefined();
  });

  test('forget drops a repository, and a lookup that began before it is not cached', () => {
    const cache = new RepoCache<ManifestRecord>(new ManualClock(0));
    cache.set('a', 'v1', record(1), cache.generation('a'));
    cache.set('b', 'v1', record(2), cache.generation('b'));
    const before = cache.generation('a');
    cache.forget('a');
    expect(cache.get('a', 'v1')).toBeUndefined();
    expect(cache.get('b', 'v1')).toEqual(record(2));
    cache.set('a', 'v1', record(1), before); // read before the change: stale, ignored
    expect(cache.get('a', 'v1')).toBeUndefined();
  });

  test('is bounded in entries', () => {
    const cache = new RepoCache<ManifestRecord>(new ManualClock(0), 1000, 3);
    for (let i = 0; i < 5; i++) cache.set('r', `t${i}`, record(i), 0);
    expect(['t0', 't1', 't2', 't3', 't4'].filter((t) => cache.get('r', t) !== undefined).length).toBeLessThanOrEqual(3);
  });
});
