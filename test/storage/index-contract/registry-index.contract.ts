/**
 * The RegistryIndex contract, run on SQLite and on PostgreSQL (index-contract.test.ts): what
 * the registry relies on, including the upload claims several replicas coordinate through
 * and the re-check of a manifest's references.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import type { Digest, RepoName, Tag } from '../../../src/primitives/types.js';
import type { ManifestRecord, RegistryIndex } from '../../../src/storage/registry-index.js';
import type { IndexUnderTest, MakeIndex } from './index-factory.js';

const repo = (name: string) => name as RepoName;
const tag = (name: string) => name as Tag;
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}` as Digest;

function manifest(d: Digest, extra: Partial<ManifestRecord> = {}): ManifestRecord {
  return { digest: d, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 500, artifactType: null, subject: null, annotations: null, ...extra };
}

export function registryIndexContract(name: string, make: MakeIndex): void {
  describe(`RegistryIndex contract: ${name}`, () => {
    let t: IndexUnderTest;
    let index: RegistryIndex;
    beforeEach(async () => {
      t = await make();
      index = t.indexes.registry;
    });
    afterEach(async () => {
      await t.cleanup();
    });

    test('blobs: linked per repository, sizes (above 2^32 too) by repository and globally, unlink', async () => {
      const big = 5 * 2 ** 32 + 3;
      await index.linkBlob(repo('a/one'), digest(1), big, 1000);
      await index.linkBlob(repo('a/one'), digest(2), 20, 1000);
      expect(await index.repositoryExists(repo('a/one'))).toBe(true);
      expect(await index.repositoryExists(repo('a/two'))).toBe(false);
      expect(await index.repositoryBlobSize(repo('a/one'), digest(1))).toBe(big);
      expect(await index.repositoryBlobSize(repo('a/two'), digest(1))).toBeUndefined();
      expect(await index.blobSize(digest(1))).toBe(big);
      expect(await index.blobSize(digest(3))).toBeUndefined();
      const sizes = await index.repositoryBlobSizes(repo('a/one'), [digest(1), digest(2), digest(3), digest(1)]);
      expect([...sizes.entries()].sort()).toEqual([[digest(1), big], [digest(2), 20]]);
      expect((await index.repositoryBlobSizes(repo('a/one'), [])).size).toBe(0);
      // Linking again (a re-push, a mount) changes nothing.
      await index.linkBlob(repo('a/one'), digest(1), big, 2000);
      expect(await index.unlinkBlob(repo('a/one'), digest(1))).toBe(true);
      expect(await index.unlinkBlob(repo('a/one'), digest(1))).toBe(false);
      expect(await index.repositoryBlobSize(repo('a/one'), digest(1))).toBeUndefined();
      // The content row stays for GC.
      expect(await index.blobSize(digest(1))).toBe(big);
    });

    test('manifests: put with references and a tag, get, resolve, list and delete tags, delete the manifest', async () => {
      const r = repo('app');
      await index.linkBlob(r, digest(1), 10, 1000);
      await index.linkBlob(r, digest(2), 20, 1000);
      const m = manifest(digest(100), { annotations: '{"a":"b"}' });
      expect(await index.putManifest(r, m, [{ digest: digest(1), kind: 'blob' }, { digest: digest(2), kind: 'blob' }], tag('v1'), 1000)).toBeUndefined();
      expect(await index.getManifest(r, digest(100))).toEqual(m);
      expect(await index.getManifest(repo('other'), digest(100))).toBeUndefined();
      expect(await index.resolveTag(r, tag('v1'))).toEqual(m);
      expect(await index.existingManifests(r, [digest(100), digest(1)])).toEqual(new Set([digest(100)]));
      expect(await index.blobSize(digest(100))).toBe(500);
      // Putting the same manifest again with another tag is fine (idempotent content).
      expect(await index.putManifest(r, m, [{ digest: digest(1), kind: 'blob' }], tag('latest'), 1001)).toBeUndefined();
      expect(await index.listTags(r, undefined, 10)).toEqual(['latest', 'v1']);
      expect(await index.listTags(r, 'latest', 10)).toEqual(['v1']);
      expect(await index.listTags(r, undefined, 1)).toEqual(['latest']);
      expect(await index.deleteTag(r, tag('latest'))).toBe(true);
      expect(await index.deleteTag(r, tag('latest'))).toBe(false);
      expect(await index.deleteManifest(r, digest(100))).toBe(true);
      expect(await index.deleteManifest(r, digest(100))).toBe(false);
      expect(await index.deleteManifest(repo('nowhere'), digest(100))).toBe(false);
      // Its tags went with it.
      expect(await index.resolveTag(r, tag('v1'))).toBeUndefined();
      expect(await index.listTags(r, undefined, 10)).toEqual([]);
    });

    test('putManifest refuses a missing reference and writes nothing: a blob not linked here, a child manifest not here', async () => {
      const r = repo('app');
      await index.linkBlob(r, digest(1), 10, 1000);
      await index.linkBlob(repo('elsewhere'), digest(2), 20, 1000);
      const refs = [{ digest: digest(1), kind: 'blob' as const }, { digest: digest(2), kind: 'blob' as const }];
      expect(await index.putManifest(r, manifest(digest(100)), refs, tag('v1'), 1000)).toEqual({ digest: digest(2), kind: 'blob' });
      expect(await index.getManifest(r, digest(100))).toBeUndefined();
      expect(await index.resolveTag(r, tag('v1'))).toBeUndefined();
      expect(await index.blobSize(digest(100))).toBeUndefined();

      // An index whose child is a blob of that digest (not a manifest) is refused too.
      expect(await index.putManifest(r, manifest(digest(200)), [{ digest: digest(1), kind: 'manifest' }], undefined, 1000)).toEqual({ digest: digest(1), kind: 'manifest' });
      expect(await index.putManifest(r, manifest(digest(101)), [{ digest: digest(1), kind: 'blob' }], undefined, 1000)).toBeUndefined();
      expect(await index.putManifest(r, manifest(digest(200)), [{ digest: digest(101), kind: 'manifest' }], tag('index'), 1000)).toBeUndefined();
      expect((await index.resolveTag(r, tag('index')))?.digest).toBe(digest(200));
    });

    test('repositories: listed in byte order while they hold a manifest; deleteRepository removes it whole', async () => {
      for (const name of ['b', 'a/z', 'B', 'a', 'a-b']) {
        await index.linkBlob(repo(name), digest(1), 10, 1000);
        await index.putManifest(repo(name), manifest(digest(100)), [{ digest: digest(1), kind: 'blob' }], tag('t'), 1000);
      }
      await index.linkBlob(repo('only-a-blob'), digest(1), 10, 1000);
      // Byte order: upper case before lower case, "-" (0x2d) before "/" (0x2f).
      expect(await index.listRepositories(undefined, 100)).toEqual(['B', 'a', 'a-b', 'a/z', 'b']);
      expect(await index.listRepositories('a', 2)).toEqual(['a-b', 'a/z']);
      expect(await index.deleteRepository(repo('a'))).toEqual({ manifests: 1, tags: 1, links: 1 });
      expect(await index.deleteRepository(repo('a'))).toBeUndefined();
      expect(await index.repositoryExists(repo('a'))).toBe(false);
      expect(await index.listRepositories(undefined, 100)).toEqual(['B', 'a-b', 'a/z', 'b']);
      // Content other repositories use stays.
      expect(await index.blobSize(digest(1))).toBe(10);
    });

    test('referrers: the manifests whose subject is the digest, oldest first', async () => {
      const r = repo('app');
      await index.linkBlob(r, digest(1), 10, 1000);
      await index.putManifest(r, manifest(digest(100)), [{ digest: digest(1), kind: 'blob' }], tag('v1'), 1000);
      const sig = manifest(digest(102), { subject: digest(100), artifactType: 'application/x-sig' });
      const sbom = manifest(digest(101), { subject: digest(100), artifactType: 'application/x-sbom', annotations: '{"k":"v"}' });
      await index.putManifest(r, sig, [{ digest: digest(1), kind: 'blob' }], undefined, 2000);
      await index.putManifest(r, sbom, [{ digest: digest(1), kind: 'blob' }], undefined, 3000);
      expect(await index.referrers(r, digest(100))).toEqual([sig, sbom]);
      expect(await index.referrers(r, digest(999))).toEqual([]);
    });

    test('uploads: create, get, touch, delete', async () => {
      await index.createUpload('u1', repo('app'), 1000);
      expect(await index.getUpload('u1')).toEqual({ id: 'u1', repository: 'app', createdAt: 1000, updatedAt: 1000 });
      await index.touchUpload('u1', 5000);
      expect(await index.getUpload('u1')).toEqual({ id: 'u1', repository: 'app', createdAt: 1000, updatedAt: 5000 });
      await index.deleteUpload('u1');
      expect(await index.getUpload('u1')).toBeUndefined();
      expect(await t.indexes.stats.uploadsInProgress()).toBe(0);
    });

    test('upload claims: a second holder is refused, the same holder extends, expiry or release lets another in', async () => {
      await index.createUpload('u1', repo('app'), 1000);
      expect(await index.claimUpload('u1', 'replica-a', 2000, 1000)).toBe(true);
      expect(await index.claimUpload('u1', 'replica-b', 2500, 1500)).toBe(false);
      // The holder extends its claim; the other is still refused before the new expiry.
      expect(await index.claimUpload('u1', 'replica-a', 4000, 1900)).toBe(true);
      expect(await index.claimUpload('u1', 'replica-b', 5000, 3999)).toBe(false);
      // Expired: another takes it, and the old holder is now refused.
      expect(await index.claimUpload('u1', 'replica-b', 6000, 4000)).toBe(true);
      expect(await index.claimUpload('u1', 'replica-a', 7000, 4001)).toBe(false);
      // Releasing someone else's claim does nothing; the holder's release frees it at once.
      await index.releaseUpload('u1', 'replica-a');
      expect(await index.claimUpload('u1', 'replica-c', 7000, 4002)).toBe(false);
      await index.releaseUpload('u1', 'replica-b');
      expect(await index.claimUpload('u1', 'replica-c', 7000, 4003)).toBe(true);
      // No session, no claim.
      expect(await index.claimUpload('nope', 'replica-a', 7000, 4000)).toBe(false);
    });

    test('upload claims from two processes on the same index at once: exactly one wins', async () => {
      const other = (await t.another()).registry;
      for (let round = 0; round < 10; round++) {
        const id = `race-${round}`;
        await index.createUpload(id, repo('app'), 1000);
        const results = await Promise.all([index.claimUpload(id, 'a', 9000, 1000), other.claimUpload(id, 'b', 9000, 1000), index.claimUpload(id, 'c', 9000, 1000), other.claimUpload(id, 'd', 9000, 1000)]);
        expect(results.filter(Boolean)).toHaveLength(1);
      }
    });

    test('a manifest put on one process is visible on another at once', async () => {
      const other = (await t.another()).registry;
      await index.linkBlob(repo('app'), digest(1), 10, 1000);
      await index.putManifest(repo('app'), manifest(digest(100)), [{ digest: digest(1), kind: 'blob' }], tag('v1'), 1000);
      expect((await other.resolveTag(repo('app'), tag('v1')))?.digest).toBe(digest(100));
      await other.putManifest(repo('app'), manifest(digest(101)), [{ digest: digest(1), kind: 'blob' }], tag('v1'), 2000);
      expect((await index.resolveTag(repo('app'), tag('v1')))?.digest).toBe(digest(101));
    });

    test('concurrent puts of manifests sharing blobs, from two processes, all land', async () => {
      const other = (await t.another()).registry;
      await index.linkBlob(repo('app'), digest(1), 10, 1000);
      const puts = Array.from({ length: 16 }, (_, i) =>
        (i % 2 === 0 ? index : other).putManifest(repo('app'), manifest(digest(100 + i)), [{ digest: digest(1), kind: 'blob' }], tag(`t${i}`), 1000 + i),
      );
      expect(await Promise.all(puts)).toEqual(Array(16).fill(undefined));
      expect(await index.listTags(repo('app'), undefined, 100)).toHaveLength(16);
    });
  });
}
