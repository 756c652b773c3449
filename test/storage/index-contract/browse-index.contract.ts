/**
 * The listings' contract (src/storage/browse-index.ts, proxy-browse-index.ts) on every index
 * backend: the figures the index keeps per repository follow every write that changes them
 * (pushes, tag moves, deletes, a repository's removal, GC's deletes), each sort pages by
 * keyset in the order asked with nothing lost or repeated across pages (through the service
 * and its cursor), search, tags by date and by name with image sizes, and last pull times
 * that only ever move forward. Runner: test/storage/gc-proxy-contract.test.ts.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import type { Digest, RepoName, Tag } from '../../../src/primitives/types.js';
import { BrowseService } from '../../../src/registry/browse-service.js';
import { ProxyBrowseService } from '../../../src/proxy/proxy-browse.js';
import type { BrowseIndex, RepositorySort, RepositorySummary, SortOrder } from '../../../src/storage/browse-index.js';
import type { GcIndex } from '../../../src/storage/gc-index.js';
import type { ManifestRecord, ManifestReference, RegistryIndex } from '../../../src/storage/registry-index.js';
import type { GcUnderTest, MakeGcIndex } from './gc-fixture.js';

const T0 = 1_700_000_000_000;
const repo = (name: string) => name as RepoName;
const tag = (name: string) => name as Tag;
const digest = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}` as Digest;
const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

function manifest(text: string, size: number, mediaType = IMAGE): ManifestRecord {
  return { digest: digest(text), mediaType, size, artifactType: null, subject: null, annotations: null };
}

/** Pushes an image: config and layers linked, then the manifest referencing them. */
async function pushImage(index: RegistryIndex, name: string, label: string, blobs: Array<[string, number]>, manifestSize: number, t: string | undefined, now: number): Promise<ManifestRecord> {
  for (const [blob, size] of blobs) await index.linkBlob(repo(name), digest(blob), size, now);
  const m = manifest(`${name} ${label}`, manifestSize);
  const refs: ManifestReference[] = blobs.map(([blob]) => ({ digest: digest(blob), kind: 'blob' }));
  expect(await index.putManifest(repo(name), m, refs, t === undefined ? undefined : tag(t), now)).toBeUndefined();
  return m;
}

export function browseIndexContract(name: string, make: MakeGcIndex): void {
  describe(`BrowseIndex contract: ${name}`, () => {
    let it: GcUnderTest;
    let index: RegistryIndex;
    let browse: BrowseIndex;
    let gc: GcIndex;

    beforeEach(async () => {
      it = await make();
      index = it.indexes.registry;
      browse = it.indexes.browse;
      gc = await it.openGc({ readonly: false });
    });
    afterEach(async () => {
      await gc.close();
      await it.cleanup();
    });

    const summary = (n: string): Promise<RepositorySummary | undefined> => browse.repositorySummary(repo(n));

    test('figures follow pushes, tag moves, deletes and GC; a repository without a manifest is not listed', async () => {
      await index.linkBlob(repo('team/app'), digest('layer only'), 7, T0);
      // Blobs alone: not listed (as in the catalog).
      expect(await summary('team/app')).toBeUndefined();
      const v1 = await pushImage(index, 'team/app', 'v1', [['config 1', 100], ['layer shared', 1000]], 50, 'v1', T0 + 1000);
      expect(await summary('team/app')).toEqual({ name: 'team/app', manifests: 1, tags: 1, bytes: 7 + 100 + 1000 + 50, pushedAt: T0 + 1000, pulledAt: 0 });
      // A second image sharing a layer: the shared layer counts once (one link).
      await pushImage(index, 'team/app', 'v2', [['config 2', 200], ['layer shared', 1000]], 60, 'v2', T0 + 2000);
      expect(await summary('team/app')).toMatchObject({ manifests: 2, tags: 2, bytes: 7 + 100 + 1000 + 50 + 200 + 60, pushedAt: T0 + 2000 });
      // Moving a tag is a push; re-pushing an existing manifest under a new tag too.
      expect(await index.putManifest(repo('team/app'), v1, [{ digest: digest('config 1'), kind: 'blob' }], tag('latest'), T0 + 3000)).toBeUndefined();
      expect(await summary('team/app')).toMatchObject({ manifests: 2, tags: 3, pushedAt: T0 + 3000 });
      expect(await index.putManifest(repo('team/app'), v1, [], tag('v2'), T0 + 4000)).toBeUndefined();
      expect(await summary('team/app')).toMatchObject({ tags: 3, pushedAt: T0 + 4000 });
      expect(await index.deleteTag(repo('team/app'), tag('latest'))).toBe(true);
      expect(await summary('team/app')).toMatchObject({ tags: 2 });
      // Deleting a manifest takes its tags (v1 and v2 point at it now) and its own bytes.
      expect(await index.deleteManifest(repo('team/app'), v1.digest)).toBe(true);
      expect(await summary('team/app')).toMatchObject({ manifests: 1, tags: 0, bytes: 7 + 100 + 1000 + 200 + 60 });
      expect(await index.unlinkBlob(repo('team/app'), digest('config 1'))).toBe(true);
      expect(await summary('team/app')).toMatchObject({ bytes: 7 + 1000 + 200 + 60 });
      // GC's delete of an unreferenced link (the abandoned layer) lowers the bytes too.
      const id = (await gc.registryGraph()).repositories.find((r) => r.name === 'team/app')?.id;
      expect(id).toBeDefined();
      const gone = await gc.deleteUnreferencedLinks([{ repository_id: id as number, digest: digest('layer only') }], T0 + 10_000);
      expect(gone).toHaveLength(1);
      expect(await summary('team/app')).toMatchObject({ manifests: 1, bytes: 1000 + 200 + 60 });
      // The last manifest goes: out of the listing.
      await index.putManifest(repo('other/one'), manifest('other', 10), [], tag('x'), T0);
      expect(await index.deleteManifest(repo('team/app'), digest('team/app v2'))).toBe(true);
      expect(await summary('team/app')).toBeUndefined();
      expect((await browse.listRepositories({ sort: 'name', order: 'asc', limit: 10 })).map((r) => r.name)).toEqual(['other/one']);
      expect(await index.deleteRepository(repo('other/one'))).toBeDefined();
      expect(await browse.listRepositories({ sort: 'name', order: 'asc', limit: 10 })).toEqual([]);
    });

    test('every sort pages by keyset in both orders, ties broken by name, with nothing lost or repeated; search by substring', async () => {
      // Seven repositories; pushes and sizes with ties, so the name must break them.
      const specs: Array<[string, number, number]> = [
        ['org-b/api', 3, 500],
        ['org-a/web', 1, 900],
        ['org-a/API-gw', 3, 100],
        ['org-c/db', 2, 900],
        ['org-b/worker', 5, 300],
        ['solo', 4, 700],
        ['org-a/cli', 2, 200],
      ];
      for (const [n, pushedAt, size] of specs) {
        await index.putManifest(repo(n.toLowerCase()), manifest(n, size), [], tag('v1'), T0 + pushedAt * 1000);
      }
      await browse.recordPulls(new Map([[repo('solo'), T0 + 9000], [repo('org-c/db'), T0 + 8000], [repo('org-a/web'), T0 + 9000]]));
      const all = await browse.listRepositories({ sort: 'name', order: 'asc', limit: 100 });
      expect(all.map((r) => r.name)).toEqual(['org-a/api-gw', 'org-a/cli', 'org-a/web', 'org-b/api', 'org-b/worker', 'org-c/db', 'solo']);
      const value: Record<RepositorySort, (r: RepositorySummary) => number> = { name: () => 0, pushed: (r) => r.pushedAt, pulled: (r) => r.pulledAt, size: (r) => r.bytes };
      const service = new BrowseService(browse, 1000);
      for (const sort of ['name', 'pushed', 'pulled', 'size'] as const) {
        for (const order of ['asc', 'desc'] as const satisfies readonly SortOrder[]) {
          const expected = [...all].sort((a, b) => {
            const byValue = value[sort](a) - value[sort](b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
            return order === 'asc' ? byValue : -byValue;
          });
          const seen: string[] = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await service.repositories({ sort, order, n: 2, ...(cursor ? { cursor } : {}) });
            expect(page.items.length).toBeLessThanOrEqual(2);
            seen.push(...page.items.map((r) => r.name));
            cursor = page.next;
            pages++;
          } while (cursor !== undefined && pages < 10);
          expect({ sort, order, names: seen }).toEqual({ sort, order, names: expected.map((r) => r.name) });
          expect(pages).toBe(4);
        }
      }
      // Search: a case-folded substring, paged by the same cursor.
      const first = await service.repositories({ q: 'API', n: 1 });
      expect(first.items.map((r) => r.name)).toEqual(['org-a/api-gw']);
      const second = await service.repositories({ q: 'API', n: 1, ...(first.next ? { cursor: first.next } : {}) });
      expect(second.items.map((r) => r.name)).toEqual(['org-b/api']);
      expect(second.next).toBeUndefined();
      expect((await service.repositories({ q: 'org-a/' })).items.map((r) => r.name)).toEqual(['org-a/api-gw', 'org-a/cli', 'org-a/web']);
      expect((await service.repositories({ q: '%' })).items).toEqual([]);
      // A cursor of one listing is refused on another (400), and a forged one too.
      await expect(service.repositories({ sort: 'size', ...(first.next ? { cursor: first.next } : {}) })).rejects.toMatchObject({ status: 400 });
      await expect(service.repositories({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ status: 400 });
      // Only what the caller may see, and the pages cut from those alone.
      const visible = (n: string): boolean => n.startsWith('org-a/') || n === 'solo';
      const hidden: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await service.repositories({ n: 2, visible, ...(cursor ? { cursor } : {}) });
        hidden.push(...page.items.map((r) => r.name));
        cursor = page.next;
      } while (cursor !== undefined);
      expect(hidden).toEqual(['org-a/api-gw', 'org-a/cli', 'org-a/web', 'solo']);
    });

    test('last pull times only move forward, one write for several repositories', async () => {
      await index.putManifest(repo('a'), manifest('a', 1), [], tag('v'), T0);
      await index.putManifest(repo('b'), manifest('b', 1), [], tag('v'), T0);
      await browse.recordPulls(new Map([[repo('a'), T0 + 5000], [repo('b'), T0 + 6000], [repo('unknown'), T0]]));
      expect((await summary('a'))?.pulledAt).toBe(T0 + 5000);
      await browse.recordPulls(new Map([[repo('a'), T0 + 4000], [repo('b'), T0 + 7000]]));
      expect((await summary('a'))?.pulledAt).toBe(T0 + 5000);
      expect((await summary('b'))?.pulledAt).toBe(T0 + 7000);
      expect(await summary('unknown')).toBeUndefined();
    });

    test('tags: newest first by default, by name, paged; image bytes of an image and of an index', async () => {
      const amd = await pushImage(index, 'multi', 'amd64', [['cfg amd', 10], ['layer base', 1000], ['layer amd', 300]], 40, undefined, T0);
      const arm = await pushImage(index, 'multi', 'arm64', [['cfg arm', 11], ['layer base', 1000], ['layer arm', 200]], 41, undefined, T0);
      const idx = manifest('multi index', 90, INDEX);
      expect(await index.putManifest(repo('multi'), idx, [{ digest: amd.digest, kind: 'manifest' }, { digest: arm.digest, kind: 'manifest' }], tag('v1'), T0 + 1000)).toBeUndefined();
      await index.putManifest(repo('multi'), amd, [], tag('amd-only'), T0 + 3000);
      await index.putManifest(repo('multi'), arm, [], tag('arm-only'), T0 + 2000);
      await index.putManifest(repo('multi'), arm, [], tag('arm-too'), T0 + 2000);
      const service = new BrowseService(browse, 1000);
      const byDate = await service.tags(repo('multi'));
      expect(byDate.items.map((t) => t.tag)).toEqual(['amd-only', 'arm-too', 'arm-only', 'v1']);
      const v1 = byDate.items.find((t) => t.tag === 'v1');
      // The index, both children and their blobs, the shared base layer once.
      expect(v1).toEqual({ tag: 'v1', digest: idx.digest, mediaType: INDEX, pushedAt: T0 + 1000, manifestBytes: 90, imageBytes: 90 + 40 + 41 + 10 + 11 + 1000 + 300 + 200 });
      expect(byDate.items.find((t) => t.tag === 'amd-only')).toMatchObject({ mediaType: IMAGE, manifestBytes: 40, imageBytes: 40 + 10 + 1000 + 300 });
      const names: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await service.tags(repo('multi'), { sort: 'name', n: 3, ...(cursor ? { cursor } : {}) });
        names.push(...page.items.map((t) => t.tag));
        cursor = page.next;
      } while (cursor !== undefined);
      expect(names).toEqual(['amd-only', 'arm-only', 'arm-too', 'v1']);
      const dated: string[] = [];
      do {
        const page = await service.tags(repo('multi'), { n: 1, ...(cursor ? { cursor } : {}) });
        dated.push(...page.items.map((t) => t.tag));
        cursor = page.next;
      } while (cursor !== undefined);
      expect(dated).toEqual(['amd-only', 'arm-too', 'arm-only', 'v1']);
      expect((await service.tags(repo('multi'), { sort: 'date', order: 'asc', n: 2 })).items.map((t) => t.tag)).toEqual(['v1', 'arm-only']);
      await expect(service.tags(repo('nothing/here'))).rejects.toMatchObject({ code: 'NAME_UNKNOWN' });
    });

    test('proxy cache figures per upstream and repository follow caching, reads and GC; pages by keyset', async () => {
      const proxy = it.indexes.proxy;
      const m = { digest: digest('proxy manifest'), mediaType: IMAGE, size: 500 };
      await proxy.putBlob('hub', digest('proxy layer'), 4000, ['library/nginx'], T0);
      await proxy.putBlob('hub', digest('proxy config'), 100, ['library/nginx', 'library/other'], T0);
      await proxy.putManifest('hub', 'library/nginx', m, [{ digest: digest('proxy layer'), kind: 'blob' }, { digest: digest('proxy config'), kind: 'blob' }], 'latest', T0 + 1000);
      await proxy.putManifest('ghcr', 'org/tool', { digest: digest('tool'), mediaType: IMAGE, size: 300 }, [], 'v1', T0 + 500);
      const service = new ProxyBrowseService(it.indexes.proxyBrowse, 1000);
      const listed = async (sort: 'name' | 'pulled' | 'size' = 'name') => (await service.repositories({ sort })).items;
      // library/other has a blob known in it but no manifest: not listed.
      expect(await listed()).toEqual([
        { name: 'proxy/ghcr/org/tool', upstream: 'ghcr', repository: 'org/tool', manifests: 1, tags: 1, bytes: 300, lastReadAt: T0 + 500 },
        { name: 'proxy/hub/library/nginx', upstream: 'hub', repository: 'library/nginx', manifests: 1, tags: 1, bytes: 500 + 4000 + 100, lastReadAt: T0 + 1000 },
      ]);
      // Per upstream: the blob two repositories share counts once; library/other holds no manifest.
      expect(await it.indexes.proxyBrowse.upstreamTotals()).toEqual([
        { upstream: 'ghcr', repositories: 1, manifests: 1, blobs: 0, bytes: 0 },
        { upstream: 'hub', repositories: 1, manifests: 1, blobs: 2, bytes: 4100 },
      ]);
      await proxy.touchManifest('ghcr', 'org/tool', digest('tool'), T0 + 9000);
      expect((await listed('pulled')).map((r) => [r.name, r.lastReadAt])).toEqual([['proxy/ghcr/org/tool', T0 + 9000], ['proxy/hub/library/nginx', T0 + 1000]]);
      await proxy.touchTag('hub', 'library/nginx', 'latest', T0 + 9500);
      expect((await listed('pulled'))[0]?.name).toBe('proxy/hub/library/nginx');
      expect((await service.repositories({ q: 'NGINX' })).items.map((r) => r.name)).toEqual(['proxy/hub/library/nginx']);
      const page1 = await service.repositories({ sort: 'size', n: 1 });
      expect(page1.items.map((r) => r.name)).toEqual(['proxy/hub/library/nginx']);
      const page2 = await service.repositories({ sort: 'size', n: 1, ...(page1.next ? { cursor: page1.next } : {}) });
      expect(page2.items.map((r) => r.name)).toEqual(['proxy/ghcr/org/tool']);
      expect(page2.next).toBeUndefined();
      // GC evicts the layer: its bytes leave the repository (and only once).
      expect(await gc.deleteProxyBlobs([{ upstream: 'hub', digest: digest('proxy layer'), last_access: T0 }])).toHaveLength(1);
      expect((await listed()).find((r) => r.upstream === 'hub')).toMatchObject({ bytes: 500 + 100 });
      expect(await gc.deleteProxyTags([{ upstream: 'hub', repository: 'library/nginx', tag: 'latest', last_access: T0 + 9500 }])).toHaveLength(1);
      expect(await gc.deleteProxyManifests([{ upstream: 'hub', repository: 'library/nginx', digest: m.digest, last_access: T0 + 1000 }])).toHaveLength(1);
      expect((await listed()).map((r) => r.name)).toEqual(['proxy/ghcr/org/tool']);
    });
  });
}
