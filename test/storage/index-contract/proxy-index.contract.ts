/**
 * The ProxyIndex contract (src/storage/proxy-index.ts) on every index backend: cached tags,
 * manifests and blobs per upstream, what "in the repository" means for a cached blob, and
 * that a change on one server is seen at once on another (a second replica on PostgreSQL).
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import type { Digest } from '../../../src/primitives/types.js';
import type { GcIndex } from '../../../src/storage/gc-index.js';
import { proxyRows } from '../../support/proxy-graph.js';
import type { CachedManifest, ProxyIndex } from '../../../src/storage/proxy-index.js';
import type { GcUnderTest, MakeGcIndex } from './gc-fixture.js';

const T0 = 1_700_000_000_000;

function digest(text: string): Digest {
  return `sha256:${createHash('sha256').update(text).digest('hex')}` as Digest;
}

function cached(text: string, size = 400): CachedManifest {
  return { digest: digest(text), mediaType: 'application/vnd.oci.image.index.v1+json', size };
}

export function proxyIndexContract(name: string, make: MakeGcIndex): void {
  describe(`ProxyIndex contract: ${name}`, () => {
    let it: GcUnderTest;
    let proxy: ProxyIndex;
    let gc: GcIndex;

    beforeEach(async () => {
      it = await make();
      proxy = it.indexes.proxy;
      gc = await it.openGc({ readonly: false });
    });
    afterEach(async () => {
      await gc.close();
      await it.cleanup();
    });

    const lastAccess = async (): Promise<{ tag?: number; manifest?: number; blob?: number; checked?: number }> => {
      const g = await proxyRows(gc);
      return { tag: g.tags[0]?.last_access, checked: g.tags[0]?.checked_at, manifest: g.manifests[0]?.last_access, blob: g.blobs[0]?.last_access };
    };

    test('pins: set once (a second pin keeps the first time), listed in byte order, handed to GC, unpinned', async () => {
      expect(await proxy.listPins()).toEqual([]);
      await proxy.setPin('hub', 'lib/b', 'v1', true, T0);
      await proxy.setPin('hub', 'lib/a', digest('index'), true, T0 + 1);
      await proxy.setPin('hub', 'lib/a', 'B', true, T0 + 2);
      await proxy.setPin('hub', 'lib/b', 'v1', true, T0 + 3);
      expect(await proxy.listPins()).toEqual([
        { upstream: 'hub', repository: 'lib/a', reference: 'B', pinnedAt: T0 + 2 },
        { upstream: 'hub', repository: 'lib/a', reference: digest('index'), pinnedAt: T0 + 1 },
        { upstream: 'hub', repository: 'lib/b', reference: 'v1', pinnedAt: T0 },
      ]);
      expect((await proxyRows(gc)).pins.sort((x, y) => (x.reference < y.reference ? -1 : 1))).toEqual([
        { upstream: 'hub', repository: 'lib/a', reference: 'B' },
        { upstream: 'hub', repository: 'lib/a', reference: digest('index') },
        { upstream: 'hub', repository: 'lib/b', reference: 'v1' },
      ]);
      await proxy.setPin('hub', 'lib/a', 'B', false, T0 + 4);
      await proxy.setPin('hub', 'lib/a', 'not-pinned', false, T0 + 4);
      expect((await proxy.listPins()).map((p) => p.reference)).toEqual([digest('index'), 'v1']);
    });

    test('a manifest cached with a tag: getTag, getManifest, listTags in byte order, deleteTag', async () => {
      const m = cached('index');
      expect(await proxy.getTag('hub', 'lib/a', 'v1')).toBeUndefined();
      expect(await proxy.getManifest('hub', 'lib/a', m.digest)).toBeUndefined();
      await proxy.putManifest('hub', 'lib/a', m, [{ digest: digest('child'), kind: 'manifest' }], 'v1', T0);
      expect(await proxy.getTag('hub', 'lib/a', 'v1')).toEqual({ ...m, checkedAt: T0 });
      expect(await proxy.getManifest('hub', 'lib/a', m.digest)).toEqual(m);
      // Per upstream and repository.
      expect(await proxy.getManifest('other', 'lib/a', m.digest)).toBeUndefined();
      expect(await proxy.getManifest('hub', 'lib/b', m.digest)).toBeUndefined();
      for (const t of ['b', 'B', 'a', '_x', 'A9']) await proxy.putManifest('hub', 'lib/a', m, [], t, T0);
      expect(await proxy.listTags('hub', 'lib/a')).toEqual(['A9', 'B', '_x', 'a', 'b', 'v1']);
      expect(await proxy.listTags('hub', 'lib/none')).toEqual([]);
      await proxy.deleteTag('hub', 'lib/a', 'v1');
      expect(await proxy.getTag('hub', 'lib/a', 'v1')).toBeUndefined();
      expect(await proxy.getManifest('hub', 'lib/a', m.digest)).toEqual(m);
    });

    test('a tag moved to another manifest; caching a manifest again keeps fetched_at, moves last_access', async () => {
      const [one, two] = [cached('one'), cached('two', 900)];
      await proxy.putManifest('hub', 'lib/a', one, [], 'latest', T0);
      await proxy.putManifest('hub', 'lib/a', two, [], 'latest', T0 + 5);
      expect(await proxy.getTag('hub', 'lib/a', 'latest')).toEqual({ ...two, checkedAt: T0 + 5 });
      await proxy.putManifest('hub', 'lib/a', one, [], undefined, T0 + 9);
      const row = (await proxyRows(gc)).manifests.find((r) => r.digest === one.digest);
      expect(row).toMatchObject({ fetched_at: T0, last_access: T0 + 9 });
    });

    test('confirmTag moves checkedAt and last access; touches move last access only', async () => {
      const m = cached('m');
      const layer = digest('layer');
      await proxy.putManifest('hub', 'lib/a', m, [{ digest: layer, kind: 'blob' }], 'v1', T0);
      await proxy.putBlob('hub', layer, 10, ['lib/a'], T0);
      await proxy.touchTag('hub', 'lib/a', 'v1', T0 + 1);
      expect(await lastAccess()).toMatchObject({ tag: T0 + 1, checked: T0 });
      await proxy.confirmTag('hub', 'lib/a', 'v1', T0 + 2);
      expect(await lastAccess()).toMatchObject({ tag: T0 + 2, checked: T0 + 2 });
      expect((await proxy.getTag('hub', 'lib/a', 'v1'))?.checkedAt).toBe(T0 + 2);
      await proxy.touchManifest('hub', 'lib/a', m.digest, T0 + 3);
      await proxy.touchBlob('hub', layer, T0 + 4);
      expect(await lastAccess()).toEqual({ tag: T0 + 2, checked: T0 + 2, manifest: T0 + 3, blob: T0 + 4 });
      // Touching what is not cached changes nothing and does not fail.
      await proxy.touchTag('hub', 'lib/a', 'nope', T0 + 5);
      await proxy.confirmTag('hub', 'lib/a', 'nope', T0 + 5);
      await proxy.touchBlob('hub', digest('nope'), T0 + 5);
      expect(await proxy.getTag('hub', 'lib/a', 'nope')).toBeUndefined();
    });

    test('a cached blob is in the repositories it was fetched for, confirmed in, or referenced by a cached manifest there', async () => {
      const layer = digest('layer');
      expect(await proxy.getBlob('hub', 'lib/a', layer)).toBeUndefined();
      await proxy.putBlob('hub', layer, 2048, ['lib/a', 'lib/a'], T0);
      expect(await proxy.getBlob('hub', 'lib/a', layer)).toEqual({ size: 2048, inRepository: true });
      expect(await proxy.getBlob('hub', 'lib/b', layer)).toEqual({ size: 2048, inRepository: false });
      expect(await proxy.getBlob('other', 'lib/a', layer)).toBeUndefined();

      await proxy.putBlobRepository('hub', 'lib/b', layer, T0 + 1);
      expect(await proxy.getBlob('hub', 'lib/b', layer)).toEqual({ size: 2048, inRepository: true });

      await proxy.putManifest('hub', 'lib/c', cached('c'), [{ digest: layer, kind: 'blob' }], 'v1', T0);
      expect(await proxy.getBlob('hub', 'lib/c', layer)).toEqual({ size: 2048, inRepository: true });
      // A reference as a child manifest does not make a blob visible.
      await proxy.putManifest('hub', 'lib/d', cached('d'), [{ digest: layer, kind: 'manifest' }], 'v1', T0);
      expect(await proxy.getBlob('hub', 'lib/d', layer)).toEqual({ size: 2048, inRepository: false });

      // Caching again moves last access, not the size or fetch time; no repositories is fine.
      await proxy.putBlob('hub', layer, 2048, [], T0 + 7);
      expect((await proxyRows(gc)).blobs).toEqual([{ upstream: 'hub', digest: layer, size: 2048, fetched_at: T0, last_access: T0 + 7 }]);
    });

    test('putBlobRepository for a blob that is not cached (GC just removed it) records nothing', async () => {
      const layer = digest('gone');
      await proxy.putBlobRepository('hub', 'lib/a', layer, T0);
      expect(await proxy.getBlob('hub', 'lib/a', layer)).toBeUndefined();
      await proxy.putBlob('hub', layer, 5, [], T0);
      expect(await proxy.getBlob('hub', 'lib/a', layer)).toEqual({ size: 5, inRepository: false });
      // GC removes the blob; its repository rows go with it.
      await proxy.putBlobRepository('hub', 'lib/a', layer, T0);
      const graph = await proxyRows(gc);
      expect(await gc.deleteProxyBlobs(graph.blobs)).toHaveLength(1);
      await proxy.putBlob('hub', layer, 5, [], T0 + 1);
      expect(await proxy.getBlob('hub', 'lib/a', layer)).toEqual({ size: 5, inRepository: false });
    });

    test('what one server caches, another on the same index sees at once', async () => {
      const replica = await it.openReplica();
      try {
        const m = cached('shared');
        await proxy.putManifest('hub', 'lib/a', m, [], 'v1', T0);
        expect(await replica.proxy.getTag('hub', 'lib/a', 'v1')).toEqual({ ...m, checkedAt: T0 });
        await replica.proxy.putManifest('hub', 'lib/a', cached('moved'), [], 'v1', T0 + 1);
        expect((await proxy.getTag('hub', 'lib/a', 'v1'))?.digest).toBe(digest('moved'));
        await replica.proxy.putBlob('hub', digest('b'), 3, ['lib/a'], T0);
        expect(await proxy.getBlob('hub', 'lib/a', digest('b'))).toEqual({ size: 3, inRepository: true });
      } finally {
        await replica.close();
      }
    });

    test('two servers caching one manifest and blob at once: one row each, nothing fails', async () => {
      const replica = await it.openReplica();
      try {
        const m = cached('herd');
        const layer = digest('herd-layer');
        const servers = [proxy, replica.proxy, proxy, replica.proxy];
        await Promise.all(
          servers.flatMap((p, i) => [
            p.putManifest('hub', 'lib/a', m, [{ digest: layer, kind: 'blob' }], 'v1', T0 + i),
            p.putBlob('hub', layer, 77, ['lib/a', `lib/r${i}`], T0 + i),
          ]),
        );
        const graph = await proxyRows(gc);
        expect(graph.manifests).toHaveLength(1);
        expect(graph.blobs).toHaveLength(1);
        expect(graph.references).toHaveLength(1);
        expect(graph.tags).toHaveLength(1);
        for (let i = 0; i < servers.length; i++) expect(await proxy.getBlob('hub', `lib/r${i}`, layer)).toEqual({ size: 77, inRepository: true });
      } finally {
        await replica.close();
      }
    });
  });
}
