/**
 * The contracts several processes (replicas) coordinate through, run on SQLite and on
 * PostgreSQL (index-contract.test.ts): download leases, shared secrets, and the store stats.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import type { Digest, RepoName, Tag } from '../../../src/primitives/types.js';
import type { DownloadLeases } from '../../../src/storage/download-leases.js';
import type { IndexUnderTest, MakeIndex } from './index-factory.js';

export function coordinationContract(name: string, make: MakeIndex): void {
  describe(`DownloadLeases, SharedSecrets, StoreStats contract: ${name}`, () => {
    let t: IndexUnderTest;
    let leases: DownloadLeases;
    beforeEach(async () => {
      t = await make();
      leases = t.indexes.leases;
    });
    afterEach(async () => {
      await t.cleanup();
    });

    test('a lease: the first claim wins, a second holder learns who holds it, the holder re-claims, release frees it', async () => {
      expect(await leases.claim('hub/sha256:1', 'a', 'http://a:5000', 30_000, 1000)).toEqual({ won: true });
      expect(await leases.claim('hub/sha256:1', 'b', 'http://b:5000', 30_000, 2000)).toEqual({
        won: false,
        current: { key: 'hub/sha256:1', holder: 'a', holderUrl: 'http://a:5000', expiresAt: 31_000 },
      });
      expect(await leases.claim('hub/sha256:1', 'a', 'http://a:5000', 30_000, 3000)).toEqual({ won: true });
      // Another key is independent.
      expect(await leases.claim('hub/sha256:2', 'b', 'http://b:5000', 30_000, 3000)).toEqual({ won: true });
      // Only the holder's release counts.
      await leases.release('hub/sha256:1', 'b');
      expect((await leases.claim('hub/sha256:1', 'b', 'http://b:5000', 30_000, 4000)).won).toBe(false);
      await leases.release('hub/sha256:1', 'a');
      expect(await leases.claim('hub/sha256:1', 'b', 'http://b:5000', 30_000, 4000)).toEqual({ won: true });
    });

    test('an expired lease can be taken; then renew fails for the old holder and works for the new one', async () => {
      expect((await leases.claim('k', 'a', 'http://a', 10_000, 1000)).won).toBe(true);
      expect(await leases.renew('k', 'a', 10_000, 5000)).toBe(true);
      // Renewed to 15000: still held at 14999, free at 15000.
      expect((await leases.claim('k', 'b', 'http://b', 10_000, 14_999)).won).toBe(false);
      expect((await leases.claim('k', 'b', 'http://b', 10_000, 15_000)).won).toBe(true);
      expect(await leases.renew('k', 'a', 10_000, 15_001)).toBe(false);
      expect(await leases.renew('k', 'b', 10_000, 15_001)).toBe(true);
      expect(await leases.renew('unknown', 'b', 10_000, 15_001)).toBe(false);
      const lost = await leases.claim('k', 'a', 'http://a', 10_000, 20_000);
      expect(lost).toEqual({ won: false, current: { key: 'k', holder: 'b', holderUrl: 'http://b', expiresAt: 25_001 } });
    });

    test('concurrent claims of one lease from two processes: exactly one wins, every loser names the winner', async () => {
      const other = (await t.another()).leases;
      for (let round = 0; round < 10; round++) {
        const key = `race-${round}`;
        const claimants = ['a', 'b', 'c', 'd', 'e', 'f'];
        const results = await Promise.all(claimants.map((holder, i) => (i % 2 === 0 ? leases : other).claim(key, holder, `http://${holder}`, 30_000, 1000)));
        const winners = claimants.filter((_, i) => results[i]?.won);
        expect(winners).toHaveLength(1);
        for (const result of results) if (!result.won) expect(result.current.holder).toBe(winners[0]);
      }
    });

    test('concurrent claims of an expired lease: exactly one of the new claimants takes it over', async () => {
      const other = (await t.another()).leases;
      expect((await leases.claim('k', 'dead', 'http://dead', 1000, 0)).won).toBe(true);
      const results = await Promise.all(['a', 'b', 'c', 'd'].map((holder, i) => (i % 2 === 0 ? leases : other).claim('k', holder, `http://${holder}`, 30_000, 5000)));
      expect(results.filter((r) => r.won)).toHaveLength(1);
      expect(await leases.renew('k', 'dead', 1000, 5001)).toBe(false);
    });

    test('shared secrets: concurrent getOrCreate from several processes all return the one value stored', async () => {
      const others = [await t.another(), await t.another()];
      const sets = [t.indexes, ...others];
      let created = 0;
      const values = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          sets[i % sets.length]!.secrets.getOrCreate('token-signing-key', () => {
            created++;
            return `candidate-${i}`;
          }),
        ),
      );
      expect(new Set(values).size).toBe(1);
      expect(values[0]).toMatch(/^candidate-\d+$/);
      expect(created).toBeGreaterThanOrEqual(1);
      // Later calls read it and never replace it.
      expect(await others[1]!.secrets.getOrCreate('token-signing-key', () => 'late')).toBe(values[0]);
      expect(await t.indexes.secrets.getOrCreate('other-secret', () => 'x')).toBe('x');
    });

    test('stats: ping, uploads in progress, bytes recorded per store', async () => {
      const { stats, registry } = t.indexes;
      expect(await stats.ping()).toBe(true);
      expect(await stats.uploadsInProgress()).toBe(0);
      expect(await stats.storeBytes()).toEqual({ registry: 0, proxy: 0 });
      await registry.createUpload('u1', 'app' as RepoName, 1000);
      await registry.createUpload('u2', 'app' as RepoName, 1000);
      expect(await stats.uploadsInProgress()).toBe(2);
      const big = 3 * 2 ** 32;
      await registry.linkBlob('app' as RepoName, 'sha256:aa' as Digest, big, 1000);
      await registry.linkBlob('other' as RepoName, 'sha256:aa' as Digest, big, 1000);
      await registry.linkBlob('app' as RepoName, 'sha256:bb' as Digest, 7, 1000);
      await registry.putManifest('app' as RepoName, { digest: 'sha256:cc' as Digest, mediaType: 'm', size: 100, artifactType: null, subject: null, annotations: null }, [{ digest: 'sha256:bb' as Digest, kind: 'blob' }], 'v1' as Tag, 1000);
      // Content counts once, however many repositories link it.
      expect(await stats.storeBytes()).toEqual({ registry: big + 7 + 100, proxy: 0 });
      await registry.deleteUpload('u1');
      expect(await stats.uploadsInProgress()).toBe(1);
      // A proxy digest counts once, whatever upstreams cached it as a blob or as a manifest.
      await t.indexes.proxy.putBlob('hub', 'sha256:dd' as Digest, 40, ['lib/a'], 1000);
      await t.indexes.proxy.putBlob('quay', 'sha256:dd' as Digest, 40, ['lib/a'], 1000);
      await t.indexes.proxy.putBlob('hub', 'sha256:dd' as Digest, 40, ['lib/b'], 2000);
      await t.indexes.proxy.putManifest('hub', 'lib/a', { digest: 'sha256:ee' as Digest, mediaType: 'm', size: 9 }, [], 'v1', 1000);
      await t.indexes.proxy.putManifest('hub', 'lib/b', { digest: 'sha256:ee' as Digest, mediaType: 'm', size: 9 }, [], 'v1', 1000);
      expect(await stats.storeBytes()).toEqual({ registry: big + 7 + 100, proxy: 49 });
    });
  });
}
