/**
 * The GcIndex contract (src/storage/gc-index.ts), run on every index backend: what the graph
 * reads return, that every delete re-states its condition (a row that became referenced or
 * read since GC looked stays), that a manifest PUT racing a delete batch on another
 * connection never leaves a manifest without the rows it references, that a dry run's
 * connection cannot write, and where the last run is recorded.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import type { Digest, RepoName, Tag } from '../../../src/primitives/types.js';
import { planInMemory } from '../../../src/gc/registry-plan.js';
import type { GcIndex } from '../../../src/storage/gc-index.js';
import { proxyRows } from '../../support/proxy-graph.js';
import type { ManifestRecord, ManifestReference } from '../../../src/storage/registry-index.js';
import { until, type GcUnderTest, type MakeGcIndex } from './gc-fixture.js';

const T0 = 1_700_000_000_000;
/** Everything written at T0 is older than this cutoff; what is written at LATER is not. */
const CUTOFF = T0 + 60_000;
const LATER = CUTOFF + 1;

function digest(text: string): Digest {
  return `sha256:${createHash('sha256').update(text).digest('hex')}` as Digest;
}

function manifest(text: string, size = 300): ManifestRecord {
  return { digest: digest(text), mediaType: 'application/vnd.oci.image.manifest.v1+json', size, artifactType: null, subject: null, annotations: null };
}

const repo = (name: string): RepoName => name as RepoName;
const tag = (name: string): Tag => name as Tag;

export function gcIndexContract(name: string, make: MakeGcIndex): void {
  describe(`GcIndex contract: ${name}`, () => {
    let it: GcUnderTest;
    let gc: GcIndex;

    beforeEach(async () => {
      it = await make();
      gc = await it.openGc({ readonly: false });
    });
    afterEach(async () => {
      await gc.close();
      await it.cleanup();
    });

    const idOf = async (name: string): Promise<number> => {
      const found = (await gc.registryGraph()).repositories.find((r) => r.name === name);
      if (!found) throw new Error(`no repository ${name}`);
      return found.id;
    };

    test('registryGraph is one snapshot of every row GC plans from, with numbers as numbers', async () => {
      const reg = it.indexes.registry;
      const layer = digest('layer');
      await reg.linkBlob(repo('team/app'), layer, 1234, T0);
      const m = manifest('m1');
      expect(await reg.putManifest(repo('team/app'), m, [{ digest: layer, kind: 'blob' }], tag('v1'), T0)).toBeUndefined();
      const graph = await gc.registryGraph();
      const id = await idOf('team/app');
      expect(typeof id).toBe('number');
      expect(graph.manifests).toEqual([{ repository_id: id, digest: m.digest, subject: null, created_at: T0, size: 300 }]);
      expect(graph.tagged).toEqual([{ repository_id: id, digest: m.digest }]);
      expect(graph.references).toEqual([{ repository_id: id, manifest_digest: m.digest, child_digest: layer, kind: 'blob' }]);
      expect(graph.links).toEqual([{ repository_id: id, digest: layer, created_at: T0 }]);
      expect([...graph.blobs].sort((a, b) => a.digest.localeCompare(b.digest))).toEqual(
        [
          { digest: layer, size: 1234, created_at: T0 },
          { digest: m.digest, size: 300, created_at: T0 },
        ].sort((a, b) => a.digest.localeCompare(b.digest)),
      );
      expect(await gc.blobsKnown([layer, digest('nothing')])).toEqual(new Set([layer]));
    });

    test('registryCandidates finds what the plan from every row finds: garbage links, empty repositories, unheld blobs, and what the grace period keeps', async () => {
      const reg = it.indexes.registry;
      const [shared, own, garbage, youngLinked] = [digest('shared'), digest('own'), digest('garbage'), digest('young-linked')];
      const [free, youngFree, untaggedLayer] = [digest('free'), digest('young-free'), digest('untagged-layer')];
      const [tagged, untagged] = [manifest('tagged', 301), manifest('untagged', 302)];
      await reg.linkBlob(repo('a'), shared, 10, T0);
      await reg.linkBlob(repo('a'), own, 20, T0);
      await reg.putManifest(repo('a'), tagged, [{ digest: shared, kind: 'blob' }, { digest: own, kind: 'blob' }], tag('v1'), T0);
      await reg.linkBlob(repo('a'), garbage, 30, T0); // an abandoned push: nothing references it
      await reg.linkBlob(repo('a'), youngLinked, 40, T0); // old blob, old link in a...
      await reg.linkBlob(repo('c'), youngLinked, 40, LATER); // ...and a young link in c
      await reg.linkBlob(repo('b'), shared, 10, T0); // b: one old link nothing in b references
      await reg.linkBlob(repo('e'), free, 50, T0);
      expect(await reg.unlinkBlob(repo('e'), free)).toBe(true); // e: nothing left at all
      await reg.linkBlob(repo('f'), youngFree, 60, LATER);
      expect(await reg.unlinkBlob(repo('f'), youngFree)).toBe(true);
      await reg.linkBlob(repo('d'), untaggedLayer, 70, T0);
      await reg.putManifest(repo('d'), untagged, [{ digest: untaggedLayer, kind: 'blob' }], undefined, T0); // kept: no --delete-untagged
      const [a, b, e, f] = [await idOf('a'), await idOf('b'), await idOf('e'), await idOf('f')];

      const found = await gc.registryCandidates(CUTOFF);
      const byKey = <T extends { digest: string }>(xs: readonly T[]): T[] => [...xs].sort((x, y) => `${'repository_id' in x ? String(x.repository_id) : ''}${x.digest}`.localeCompare(`${'repository_id' in y ? String(y.repository_id) : ''}${y.digest}`));
      expect(byKey(found.links)).toEqual(
        byKey([
          { repository_id: a, digest: garbage, repository: 'a', size: 30 },
          { repository_id: a, digest: youngLinked, repository: 'a', size: 40 },
          { repository_id: b, digest: shared, repository: 'b', size: 10 },
        ]),
      );
      expect([...found.repositories].sort((x, y) => x.id - y.id)).toEqual([{ id: b, name: 'b' }, { id: e, name: 'e' }, { id: f, name: 'f' }].sort((x, y) => x.id - y.id));
      expect(byKey(found.blobs)).toEqual(
        byKey([
          { digest: garbage, size: 30, created_at: T0 },
          { digest: free, size: 50, created_at: T0 },
        ]),
      );
      expect(found.keptByGrace).toEqual({ blobs: 2, bytes: 40 + 60 });

      const reference = planInMemory(await gc.registryGraph(), CUTOFF, false);
      expect(byKey(found.links)).toEqual(byKey(reference.links));
      expect([...found.repositories].sort((x, y) => x.id - y.id)).toEqual([...reference.repositories].sort((x, y) => x.id - y.id));
      expect(byKey(found.blobs)).toEqual(byKey(reference.blobs));
      expect(found.keptByGrace).toEqual({ blobs: reference.keptByGrace.blobs, bytes: reference.keptByGrace.bytes });
    });

    test('deleteUnreferencedLinks deletes old unreferenced links only, and says which', async () => {
      const reg = it.indexes.registry;
      const [kept, gone, young] = [digest('kept'), digest('gone'), digest('young')];
      await reg.linkBlob(repo('r'), kept, 10, T0);
      await reg.linkBlob(repo('r'), gone, 10, T0);
      await reg.linkBlob(repo('r'), young, 10, LATER);
      await reg.putManifest(repo('r'), manifest('holds kept'), [{ digest: kept, kind: 'blob' }], undefined, T0);
      const id = await idOf('r');
      const batch = [kept, gone, young].map((d) => ({ repository_id: id, digest: d }));
      expect(await gc.deleteUnreferencedLinks(batch, CUTOFF)).toEqual([{ repository_id: id, digest: gone }]);
      expect(await reg.repositoryBlobSize(repo('r'), gone)).toBeUndefined();
      expect(await reg.repositoryBlobSize(repo('r'), kept)).toBe(10);
      expect(await reg.repositoryBlobSize(repo('r'), young)).toBe(10);
      expect(await gc.deleteUnreferencedLinks([], CUTOFF)).toEqual([]);
    });

    test('a link that became referenced between the look and the delete stays', async () => {
      const reg = it.indexes.registry;
      const layer = digest('layer');
      await reg.linkBlob(repo('r'), layer, 10, T0);
      const plan = (await gc.registryGraph()).links; // GC looks: unreferenced
      expect(await reg.putManifest(repo('r'), manifest('late'), [{ digest: layer, kind: 'blob' }], tag('v1'), T0)).toBeUndefined();
      expect(await gc.deleteUnreferencedLinks(plan, CUTOFF)).toEqual([]);
      expect(await reg.repositoryBlobSize(repo('r'), layer)).toBe(10);
    });

    test('deleteUnreferencedBlobs keeps what a link, a reference or a manifest holds, and what is young', async () => {
      const reg = it.indexes.registry;
      const [linked, free, young] = [digest('linked'), digest('free'), digest('young')];
      await reg.linkBlob(repo('r'), linked, 10, T0);
      await reg.linkBlob(repo('r'), free, 20, T0);
      await reg.linkBlob(repo('r'), young, 30, LATER);
      const m = manifest('m');
      await reg.putManifest(repo('r'), m, [{ digest: linked, kind: 'blob' }], tag('v1'), T0);
      expect(await reg.unlinkBlob(repo('r'), free)).toBe(true);
      expect(await reg.unlinkBlob(repo('r'), young)).toBe(true);
      const all = [linked, free, young, m.digest, digest('unknown')];
      expect(await gc.deleteUnreferencedBlobs(all, CUTOFF)).toEqual([free]);
      expect(await gc.blobsKnown(all)).toEqual(new Set([linked, young, m.digest]));
    });

    test('untagged manifests, empty repositories and stale uploads go; tagged, non-empty and fresh stay', async () => {
      const reg = it.indexes.registry;
      const [tagged, untagged] = [manifest('tagged'), manifest('untagged')];
      await reg.putManifest(repo('a'), tagged, [], tag('v1'), T0);
      await reg.putManifest(repo('a'), untagged, [], undefined, T0);
      await reg.linkBlob(repo('empty'), digest('x'), 1, T0);
      expect(await reg.unlinkBlob(repo('empty'), digest('x'))).toBe(true);
      const [a, empty] = [await idOf('a'), await idOf('empty')];
      expect(await gc.deleteUntaggedManifests([{ repository_id: a, digest: tagged.digest }, { repository_id: a, digest: untagged.digest }])).toEqual([
        { repository_id: a, digest: untagged.digest },
      ]);
      expect(await reg.getManifest(repo('a'), tagged.digest)).toBeDefined();
      expect(await reg.getManifest(repo('a'), untagged.digest)).toBeUndefined();
      expect(await gc.deleteEmptyRepositories([a, empty])).toEqual(['empty']);
      expect(await reg.repositoryExists(repo('empty'))).toBe(false);
      expect(await reg.repositoryExists(repo('a'))).toBe(true);

      await reg.createUpload('old', repo('a'), T0);
      await reg.createUpload('fresh', repo('a'), LATER);
      expect(await gc.uploadsKnown(['old', 'fresh', 'never'])).toEqual(new Set(['old', 'fresh']));
      expect(await gc.staleUploads(CUTOFF)).toEqual([{ id: 'old', repository: 'a' }]);
      await reg.touchUpload('old', LATER); // touched after GC looked
      expect(await gc.deleteStaleUploads(['old', 'fresh'], CUTOFF)).toEqual([]);
      expect(await gc.deleteStaleUploads(['old', 'fresh'], LATER + 1)).toEqual(['old', 'fresh']);
    });

    test('proxy rows go unless read after the last_access GC saw', async () => {
      const proxy = it.indexes.proxy;
      const [m, layer] = [manifest('pm', 500), digest('pl')];
      await proxy.putBlob('hub', layer, 700, ['lib/a'], T0);
      await proxy.putManifest('hub', 'lib/a', m, [{ digest: layer, kind: 'blob' }], 'v1', T0);
      const graph = await proxyRows(gc);
      expect(graph.tags).toEqual([{ upstream: 'hub', repository: 'lib/a', tag: 'v1', digest: m.digest, checked_at: T0, last_access: T0 }]);
      expect(graph.manifests).toEqual([{ upstream: 'hub', repository: 'lib/a', digest: m.digest, size: 500, fetched_at: T0, last_access: T0 }]);
      expect(graph.references).toEqual([{ upstream: 'hub', repository: 'lib/a', manifest_digest: m.digest, child_digest: layer, kind: 'blob' }]);
      expect(graph.blobs).toEqual([{ upstream: 'hub', digest: layer, size: 700, fetched_at: T0, last_access: T0 }]);

      // Read after GC looked: nothing of it goes.
      await proxy.touchTag('hub', 'lib/a', 'v1', LATER);
      await proxy.touchManifest('hub', 'lib/a', m.digest, LATER);
      await proxy.touchBlob('hub', layer, LATER);
      expect(await gc.deleteProxyTags(graph.tags)).toEqual([]);
      expect(await gc.deleteProxyManifests(graph.manifests)).toEqual([]);
      expect(await gc.deleteProxyBlobs(graph.blobs)).toEqual([]);
      expect(await gc.proxyContentKnown([m.digest, layer, digest('none')])).toEqual(new Set([m.digest, layer]));

      // Looked at again, unread since: everything goes (the caller's own objects come back).
      const again = await proxyRows(gc);
      const tags = again.tags.map((t) => ({ ...t, mine: true }));
      expect(await gc.deleteProxyTags(tags)).toEqual(tags);
      expect(await gc.deleteProxyManifests(again.manifests)).toEqual(again.manifests);
      expect(await gc.deleteProxyBlobs(again.blobs)).toEqual(again.blobs);
      expect(await gc.proxyContentKnown([m.digest, layer])).toEqual(new Set());
      expect(await proxy.getBlob('hub', 'lib/a', layer)).toBeUndefined();
    });

    test('store totals (what /metrics shows) follow the rows GC deletes; a proxy digest counts once, until its last row goes', async () => {
      const { proxy, registry, stats } = it.indexes;
      const [m, shared, own] = [manifest('pm', 500), digest('shared'), digest('own')];
      await proxy.putBlob('hub', shared, 700, ['lib/a'], T0);
      await proxy.putBlob('quay', shared, 700, ['lib/a'], T0);
      await proxy.putBlob('hub', own, 30, ['lib/a'], T0);
      await proxy.putBlob('hub', own, 30, ['lib/b'], LATER);
      await proxy.putManifest('hub', 'lib/a', m, [{ digest: shared, kind: 'blob' }], 'v1', T0);
      await proxy.putManifest('quay', 'lib/a', m, [{ digest: shared, kind: 'blob' }], 'v1', T0);
      const free = digest('free');
      await registry.linkBlob(repo('team/app'), free, 5, T0);
      await registry.unlinkBlob(repo('team/app'), free);
      expect(await stats.storeBytes()).toEqual({ registry: 5, proxy: 700 + 30 + 500 });

      const graph = await proxyRows(gc);
      const hubOnly = <T extends { upstream: string }>(rows: T[]): T[] => rows.filter((r) => r.upstream === 'hub');
      await gc.deleteProxyTags(hubOnly(graph.tags));
      await gc.deleteProxyManifests(hubOnly(graph.manifests));
      await gc.deleteProxyBlobs(hubOnly(graph.blobs));
      // quay still names the shared blob and the manifest; nothing names `own` any more.
      expect(await stats.storeBytes()).toEqual({ registry: 5, proxy: 700 + 500 });
      await gc.deleteProxyTags(graph.tags);
      await gc.deleteProxyManifests(graph.manifests);
      await gc.deleteProxyBlobs(graph.blobs);
      expect(await gc.deleteUnreferencedBlobs([free], LATER + 1)).toEqual([free]);
      expect(await stats.storeBytes()).toEqual({ registry: 0, proxy: 0 });
    });

    test('a dry run opens a connection that cannot write: deletes fail and change nothing', async () => {
      const reg = it.indexes.registry;
      const layer = digest('layer');
      await reg.linkBlob(repo('r'), layer, 10, T0);
      expect(await reg.unlinkBlob(repo('r'), layer)).toBe(true);
      const dry = await it.openGc({ readonly: true });
      try {
        expect((await dry.registryGraph()).blobs.map((b) => b.digest)).toEqual([layer]);
        // Settled-as, not toThrow: better-sqlite3's native binding keeps the Error class of the
        // first test file that loaded it, so in a later file its errors are not `instanceof Error`.
        const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'written', () => 'refused');
        expect(await outcome(dry.deleteUnreferencedBlobs([layer], CUTOFF))).toBe('refused');
        expect(await outcome(dry.lastRun.write({ finishedAt: 1, stores: [] }))).toBe('refused');
      } finally {
        await dry.close();
      }
      expect(await gc.blobsKnown([layer])).toEqual(new Set([layer]));
      expect(await it.indexes.lastGcRun.read()).toBeUndefined();
    });

    test('the last run GC records is what every server on the index reads', async () => {
      expect(await it.indexes.lastGcRun.read()).toBeUndefined();
      const run = { dryRun: false, durationMs: 12, graceMs: 0, stores: [{ store: 'registry', blobs: 3, bytes: 4096 }], finishedAt: T0 };
      await gc.lastRun.write(run);
      expect(await it.indexes.lastGcRun.read()).toEqual(run);
      const replica = await it.openReplica();
      try {
        expect(await replica.lastGcRun.read()).toEqual(run);
        await gc.lastRun.write({ ...run, finishedAt: LATER });
        expect(await replica.lastGcRun.read()).toEqual({ ...run, finishedAt: LATER });
      } finally {
        await replica.close();
      }
    });

    describe('a manifest PUT on another connection racing a delete batch', () => {
      /** Invariant: a stored manifest's blob references are linked; a refused PUT stored nothing. */
      async function consistent(result: ManifestReference | undefined, m: ManifestRecord, layer: Digest): Promise<void> {
        const reg = it.indexes.registry;
        const stored = await reg.getManifest(repo('r'), m.digest);
        if (result === undefined) {
          expect(stored).toBeDefined();
          expect(await reg.repositoryBlobSize(repo('r'), layer)).toBe(10);
          expect(await gc.blobsKnown([layer, m.digest])).toEqual(new Set([layer, m.digest]));
        } else {
          expect(result).toEqual({ digest: layer, kind: 'blob' });
          expect(stored).toBeUndefined();
        }
      }

      /**
       * Runs `put` and `del` so that on PostgreSQL the PUT is stopped inside its transaction
       * (at its first write to `table`) while the delete runs; on SQLite both are started
       * together and the index runs them one after the other.
       */
      async function race<P, D>(table: string, put: () => Promise<P>, del: () => Promise<D>): Promise<[P, D]> {
        if (!it.holdWrites) return Promise.all([put(), del()]);
        const held = await it.holdWrites(table);
        let released = false;
        try {
          const putting = put();
          putting.catch(() => undefined);
          await until(async () => (await held.waiting()) >= 1, `the PUT waits for the lock on ${table}`);
          let settled = false;
          const deleting = del().finally(() => {
            settled = true;
          });
          deleting.catch(() => undefined);
          // The delete finishes, or waits in turn for a row the stopped PUT holds.
          await until(async () => settled || (await held.waiting()) >= 2, 'the delete finishes or waits for the PUT');
          await held.release();
          released = true;
          return [await putting, await deleting];
        } finally {
          if (!released) await held.release();
        }
      }

      // The PUT is stopped by a lock on the table it writes next: after its reference check
      // (manifest_references), or after writing its references, before its tag (tags).
      test.each([
        ['after its reference check', 'manifest_references'],
        ['after writing its references, before its tag', 'tags'],
      ])('deleteUnreferencedLinks (PUT stopped %s): the manifest never loses its layer link', async (_when, stopAt) => {
        const reg = it.indexes.registry;
        const layer = digest('layer');
        await reg.linkBlob(repo('r'), layer, 10, T0);
        const m = manifest('racing');
        const id = await idOf('r');
        const [result, deleted] = await race(
          stopAt,
          () => reg.putManifest(repo('r'), m, [{ digest: layer, kind: 'blob' }], tag('v1'), LATER),
          () => gc.deleteUnreferencedLinks([{ repository_id: id, digest: layer }], CUTOFF),
        );
        expect(deleted.length === 0 || result !== undefined).toBe(true);
        await consistent(result, m, layer);
      });

      test('deleteUnreferencedBlobs of the content a re-pushed manifest is: the stored manifest keeps its blob row', async () => {
        const reg = it.indexes.registry;
        const layer = digest('layer');
        await reg.linkBlob(repo('r'), layer, 10, T0);
        const m = manifest('again');
        // Pushed once and deleted: its content row is old and unreferenced, a GC candidate.
        await reg.putManifest(repo('r'), m, [{ digest: layer, kind: 'blob' }], undefined, T0);
        expect(await reg.deleteManifest(repo('r'), m.digest)).toBe(true);
        const [result, deleted] = await race(
          'manifest_references',
          () => reg.putManifest(repo('r'), m, [{ digest: layer, kind: 'blob' }], tag('v1'), LATER),
          () => gc.deleteUnreferencedBlobs([m.digest], CUTOFF),
        );
        expect(result).toBeUndefined();
        await consistent(result, m, layer);
        // Whatever the order, the blob row of a stored manifest is there (a delete that went
        // first is followed by the PUT writing the row anew).
        expect(deleted.length === 0 || (await gc.blobsKnown([m.digest])).has(m.digest)).toBe(true);
      });
    });
  });
}
