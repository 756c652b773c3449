import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { runGc, type GcOptions } from '../../src/gc/run-gc.js';
import type { GcSummary, Progress } from '../../src/gc/summary.js';
import type { Digest } from '../../src/primitives/types.js';
import { blobPath, ingestDir } from '../../src/storage/fs/paths.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, errorCode, OCI_INDEX, OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';

const HOUR = 3_600_000;
let keel: KeelProcess;
let client: Client;
let clock: ManualClock;

beforeEach(async () => {
  // Starts at real time: GC compares file modification times with the same clock.
  clock = new ManualClock();
  keel = await startKeel({ clock, toml: '[gc]\ngrace = "1h"\nupload_max_age = "24h"\n' });
  client = new Client(keel.url);
});
afterEach(() => keel.destroy());

async function gc(options: Partial<GcOptions> = {}): Promise<GcSummary> {
  return runGc(keel.config, { stores: 'registry', dryRun: false, deleteUntagged: false, ...options }, { clock, logger: pino({ level: 'silent' }) });
}

const stored = (digest: string): boolean => existsSync(blobPath(keel.config.registry_storage, digest as Digest));

async function pullable(repo: string, ref: string): Promise<boolean> {
  const res = await client.fetch(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } });
  if (res.status !== 200) return false;
  const manifest = (await res.json()) as { config?: { digest: string }; layers?: Array<{ digest: string }> };
  for (const d of [manifest.config, ...(manifest.layers ?? [])]) {
    if (!d) continue;
    const blob = await client.fetch(`/v2/${repo}/blobs/${d.digest}`);
    if (blob.status !== 200 || sha256(Buffer.from(await blob.arrayBuffer())) !== d.digest) return false;
  }
  return true;
}

async function shareLayer(): Promise<{ a: string; b: string; shared: string; onlyA: string[] }> {
  const shared = await client.pushBlob('app/a', randomBytes(5000));
  await client.pushBlob('app/b', Buffer.alloc(0)); // creates the repository
  const mount = await client.fetch(`/v2/app/b/blobs/uploads/?mount=${shared.digest}&from=app/a`, { method: 'POST' });
  expect(mount.status).toBe(201);
  const layer = { ...shared, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
  const a = await client.pushImage('app/a', 'v1', { extra: {} });
  const manifestA = a.manifest as { layers: unknown[] };
  const withShared = { ...a.manifest, layers: [...manifestA.layers, layer] };
  const pushedA = await client.pushManifest('app/a', 'v1', withShared, OCI_MANIFEST);
  await client.fetch(`/v2/app/a/manifests/${a.digest}`, { method: 'DELETE' });
  const b = await client.pushImage('app/b', 'v1');
  const pushedB = await client.pushManifest('app/b', 'v1', { ...b.manifest, layers: [...(b.manifest as { layers: unknown[] }).layers, layer] }, OCI_MANIFEST);
  return { a: pushedA.digest, b: pushedB.digest, shared: shared.digest, onlyA: a.blobs.map((d) => d.digest) };
}

describe('registry garbage collection', () => {
  test('deleting one image frees its own blobs; a layer shared with another image stays', async () => {
    const { a, shared, onlyA } = await shareLayer();
    expect((await client.fetch(`/v2/app/a/manifests/${a}`, { method: 'DELETE' })).status).toBe(202);
    clock.advance(2 * HOUR);
    const summary = await gc();
    const registry = summary.stores[0];
    expect(registry?.blobs).toBeGreaterThanOrEqual(onlyA.length);
    expect(registry?.bytes).toBeGreaterThan(0);
    for (const d of onlyA) expect([d, stored(d)]).toEqual([d, false]);
    expect(stored(shared)).toBe(true);
    expect(await pullable('app/b', 'v1')).toBe(true);
    expect((await client.fetch(`/v2/app/a/blobs/${onlyA[1]}`)).status).toBe(404);
  });

  test('a blob pushed within the grace period is kept without a manifest, and collected after it', async () => {
    const { digest } = await client.pushBlob('app/pending', randomBytes(1000));
    clock.advance(30 * 60_000);
    await gc();
    expect(stored(digest)).toBe(true);
    expect((await client.fetch(`/v2/app/pending/blobs/${digest}`)).status).toBe(200);
    clock.advance(HOUR);
    const summary = await gc();
    expect(summary.stores[0]).toMatchObject({ links: 1, blobs: 1 });
    expect(stored(digest)).toBe(false);
  });

  test('--delete-untagged removes untagged manifests but never index children, kept referrers or their subjects', async () => {
    const one = await client.pushImage('app/multi', 'one');
    const two = await client.pushImage('app/multi', 'two');
    const size = (m: object): number => JSON.stringify(m).length;
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [one, two].map((x) => ({ mediaType: OCI_MANIFEST, digest: x.digest, size: size(x.manifest) })) };
    await client.pushManifest('app/multi', 'multi', index, OCI_INDEX);
    // Untag the children: the tagged index still holds them.
    await client.fetch('/v2/app/multi/manifests/one', { method: 'DELETE' });
    await client.fetch('/v2/app/multi/manifests/two', { method: 'DELETE' });

    const orphan = await client.pushImage('app/multi', 'orphan');
    await client.fetch('/v2/app/multi/manifests/orphan', { method: 'DELETE' });

    const subject = await client.pushImage('app/multi', 'signed');
    const empty = await client.pushBlob('app/multi', '{}');
    const sig = { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.sig', config: { ...empty, mediaType: 'application/vnd.oci.empty.v1+json' }, layers: [], subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: size(subject.manifest) } };
    const sigPushed = await client.pushManifest('app/multi', sha256(JSON.stringify(sig)), sig, OCI_MANIFEST);

    // A tagged referrer keeps its (untagged) subject.
    const lonely = await client.pushImage('app/multi', 'lonely');
    await client.fetch('/v2/app/multi/manifests/lonely', { method: 'DELETE' });
    const sbom = { ...sig, artifactType: 'application/vnd.example.sbom', subject: { mediaType: OCI_MANIFEST, digest: lonely.digest, size: size(lonely.manifest) } };
    await client.pushManifest('app/multi', 'sbom', sbom, OCI_MANIFEST);

    clock.advance(2 * HOUR);
    const kept = await gc();
    expect(kept.stores[0]?.manifests).toBe(0);
    const summary = await gc({ deleteUntagged: true });
    expect(summary.stores[0]?.manifests).toBe(1);
    expect((await client.fetch(`/v2/app/multi/manifests/${orphan.digest}`)).status).toBe(404);
    for (const d of [one.digest, two.digest, subject.digest, sigPushed.digest, lonely.digest]) {
      expect([d, (await client.fetch(`/v2/app/multi/manifests/${d}`)).status]).toEqual([d, 200]);
    }
    expect(await pullable('app/multi', one.digest)).toBe(true);
    expect(await pullable('app/multi', lonely.digest)).toBe(true);
    for (const d of orphan.blobs) expect(stored(d.digest)).toBe(false);
  });

  test('a repository --delete-untagged empties leaves the catalog, and its row goes (tags/list: NAME_UNKNOWN)', async () => {
    await client.pushImage('app/kept', 'v1');
    const emptied = await client.pushImage('app/emptied', 'v1');
    await client.fetch('/v2/app/emptied/manifests/v1', { method: 'DELETE' });
    const catalog = async (): Promise<string[]> => ((await (await client.fetch('/v2/_catalog')).json()) as { repositories: string[] }).repositories;
    expect(await catalog()).toEqual(['app/emptied', 'app/kept']);
    clock.advance(2 * HOUR);
    const summary = await gc({ deleteUntagged: true });
    expect(summary.stores[0]).toMatchObject({ manifests: 1, repositories: 1 });
    expect(await catalog()).toEqual(['app/kept']);
    const tags = await client.fetch('/v2/app/emptied/tags/list');
    expect(tags.status).toBe(404);
    expect(await errorCode(tags)).toBe('NAME_UNKNOWN');
    for (const d of emptied.blobs) expect(stored(d.digest)).toBe(false);
    expect(await pullable('app/kept', 'v1')).toBe(true);
    // Pushing to the name again creates the repository anew.
    await client.pushImage('app/emptied', 'v2');
    expect(await catalog()).toEqual(['app/emptied', 'app/kept']);
  });

  test('abandoned upload sessions are removed after upload_max_age', async () => {
    const res = await client.fetch('/v2/app/upload/blobs/uploads/', { method: 'POST' });
    const location = res.headers.get('location') as string;
    await client.fetch(location, { method: 'PATCH', headers: { 'Content-Range': '0-9' }, body: randomBytes(10) });
    clock.advance(2 * HOUR);
    expect((await gc()).stores[0]?.uploads).toBe(0);
    clock.advance(24 * HOUR);
    expect((await gc()).stores[0]?.uploads).toBe(1);
    expect((await client.fetch(location)).status).toBe(404);
  });

  test('files the index does not know are removed once older than the grace period', async () => {
    const root = keel.config.registry_storage;
    const unknown = sha256('left by a crash');
    const path = blobPath(root, unknown as Digest);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, 'left by a crash');
    await mkdir(ingestDir(keel.config.temporary_registry_storage), { recursive: true });
    const temp = join(ingestDir(keel.config.temporary_registry_storage), 'half-written');
    await writeFile(temp, 'partial');
    // Written just now (a commit whose index row is not in yet): kept.
    const freshPath = blobPath(root, sha256('just written') as Digest);
    await mkdir(join(freshPath, '..'), { recursive: true });
    await writeFile(freshPath, 'just written');
    const old = (Date.now() - 3 * HOUR) / 1000;
    await utimes(path, old, old);
    await utimes(temp, old, old);

    // The GC's clock is real time here: the files' ages come from the filesystem.
    const summary = await runGc(keel.config, { stores: 'registry', dryRun: false, deleteUntagged: false }, { clock: { now: () => Date.now() }, logger: pino({ level: 'silent' }) });
    expect(summary.stores[0]?.orphans).toBe(2);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(temp)).toBe(false);
    expect(existsSync(freshPath)).toBe(true);
  });

  test('a file the scan found unknown, pushed again before its removal, is kept: readable, with its row', async () => {
    const bytes = randomBytes(3000);
    const digest = sha256(bytes);
    const path = blobPath(keel.config.registry_storage, digest as Digest);
    // Left by a crash (file written, no row), then found by a scan that takes long.
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, bytes);
    // Past the grace period for the file's mtime even once pushed again: only the index re-check keeps it.
    clock.advance(2 * HOUR);
    const phases: string[] = [];
    const progress: Progress = {
      start: async (phase, total) => {
        phases.push(`${phase} ${total}`);
        // Between the scan and its removals: the same content is pushed again.
        if (phase === 'registry orphans') await client.pushBlob('app/again', bytes);
      },
      tick: () => undefined,
      stop: () => undefined,
    };
    const summary = await runGc(keel.config, { stores: 'registry', dryRun: false, deleteUntagged: false }, { clock, logger: pino({ level: 'silent' }), progress });
    expect(phases).toContain('registry orphans 1');
    expect((await readFile(path)).equals(bytes)).toBe(true);
    const res = await client.fetch(`/v2/app/again/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(digest);
    expect(summary.stores[0]?.orphans).toBe(0);
  });

  test('a file an interrupted GC run left aside goes back home if the index still knows it', async () => {
    const { digest } = await client.pushBlob('app/aside', randomBytes(2000));
    const path = blobPath(keel.config.registry_storage, digest as Digest);
    const aside = `${path}.gc-0123456789ab`;
    await rename(path, aside);
    const old = (Date.now() - 3 * HOUR) / 1000;
    await utimes(aside, old, old);
    await gc();
    expect(existsSync(aside)).toBe(false);
    const res = await client.fetch(`/v2/app/aside/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(digest);
  });

  test('the bytes of a removed upload session count in what GC freed', async () => {
    const res = await client.fetch('/v2/app/upload/blobs/uploads/', { method: 'POST' });
    const location = res.headers.get('location') as string;
    expect((await client.fetch(location, { method: 'PATCH', headers: { 'Content-Range': '0-12344' }, body: randomBytes(12_345) })).status).toBe(202);
    clock.advance(26 * HOUR);
    const dry = await gc({ dryRun: true });
    expect(dry.stores[0]).toMatchObject({ uploads: 1, bytes: 12_345 });
    const real = await gc();
    expect(real.stores[0]).toMatchObject({ uploads: 1, bytes: 12_345 });
    expect((await client.fetch(location)).status).toBe(404);
  });

  test('--dry-run reports what it would delete and deletes nothing', async () => {
    const { a, onlyA } = await shareLayer();
    await client.fetch(`/v2/app/a/manifests/${a}`, { method: 'DELETE' });
    clock.advance(2 * HOUR);
    const dry = await gc({ dryRun: true });
    expect(dry.dryRun).toBe(true);
    for (const d of onlyA) expect(stored(d)).toBe(true);
    const real = await gc();
    expect(real.stores[0]).toMatchObject({ blobs: dry.stores[0]?.blobs, links: dry.stores[0]?.links, bytes: dry.stores[0]?.bytes });
  });
});
