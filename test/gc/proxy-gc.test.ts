import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { runGc } from '../../src/gc/run-gc.js';
import type { Digest } from '../../src/primitives/types.js';
import { blobPath } from '../../src/storage/fs/paths.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import type { Progress } from '../../src/gc/summary.js';
import { Client, OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';

const DAY = 86_400_000;
// The upstream is a second Keel: a real registry on loopback, without extra tools.
let upstream: KeelProcess;
let up: Client;
let keel: KeelProcess;
let client: Client;
let clock: ManualClock;

beforeAll(async () => {
  upstream = await startKeel();
  up = new Client(upstream.url);
});
afterAll(() => upstream.destroy());

beforeEach(async () => {
  clock = new ManualClock();
  keel = await startKeel({ clock, toml: `[proxy.upstreams.up]\nurl = "${upstream.url}"\nallow_private = true\n[gc]\ngrace = "1h"\n` });
  client = new Client(keel.url);
});
afterEach(() => keel.destroy());

async function gcProxy(overrides: string): Promise<{ blobs: number; manifests: number; tags: number; bytes: number }> {
  const config = parseConfig(`[gc]\ngrace = "1h"\n${overrides}`, 'gc test', keel.root);
  const summary = await runGc({ ...keel.config, gc: config.gc }, { stores: 'proxy', dryRun: false, deleteUntagged: false }, { clock, logger: pino({ level: 'silent' }) });
  const proxy = summary.stores[0];
  if (!proxy) throw new Error('no proxy summary');
  return proxy;
}

const cached = (digest: string): boolean => existsSync(blobPath(keel.config.proxy_storage, digest as Digest));

/** Pushes an image upstream whose layers include `shared`, and pulls it all through Keel. */
async function cacheImage(repo: string, tag: string, shared: { digest: string; size: number }): Promise<{ digest: string; own: string[] }> {
  const image = await up.pushImage(repo, tag);
  const mounted = await up.fetch(`/v2/${repo}/blobs/uploads/?mount=${shared.digest}&from=shared/src`, { method: 'POST' });
  expect(mounted.status).toBe(201);
  const manifest = { ...image.manifest, layers: [...(image.manifest as { layers: object[] }).layers, { mediaType: 'application/vnd.oci.image.layer.v1.tar', ...shared }] };
  const pushed = await up.pushManifest(repo, tag, manifest, OCI_MANIFEST);
  const res = await client.fetch(`/v2/proxy/up/${repo}/manifests/${tag}`);
  expect(res.status).toBe(200);
  for (const d of [...image.blobs.map((b) => b.digest), shared.digest]) {
    const blob = await client.fetch(`/v2/proxy/up/${repo}/blobs/${d}`);
    expect(blob.status).toBe(200);
    await blob.arrayBuffer(); // the blob is stored once the whole body went through
  }
  return { digest: pushed.digest, own: image.blobs.map((b) => b.digest) };
}

describe('proxy cache retention', () => {
  test('evicts images not read for max_age; a blob shared with a retained image stays', async () => {
    const shared = await up.pushBlob('shared/src', randomBytes(4000));
    const old = await cacheImage('lib/old', 'v1', shared);
    clock.advance(20 * DAY);
    const recent = await cacheImage('lib/recent', 'v1', shared);
    clock.advance(15 * DAY);

    const summary = await gcProxy('[gc.proxy]\nmax_age = "30d"\n');
    expect(summary.tags).toBe(1);
    expect(summary.manifests).toBe(1);
    for (const d of old.own) expect([d, cached(d)]).toEqual([d, false]);
    expect(cached(old.digest)).toBe(false);
    expect(cached(shared.digest)).toBe(true);
    for (const d of [...recent.own, recent.digest]) expect(cached(d)).toBe(true);
    // Evicted content is fetched again from the upstream on the next pull.
    expect((await client.fetch('/v2/proxy/up/lib/old/manifests/v1')).status).toBe(200);
  });

  test('--list names the evicted tag, manifest and blobs by their proxy/ name; a dry run lists the same', async () => {
    const shared = await up.pushBlob('shared/src', randomBytes(4000));
    const old = await cacheImage('lib/listed', 'v1', shared);
    clock.advance(40 * DAY);
    const config = { ...keel.config, gc: parseConfig('[gc]\ngrace = "1h"\n[gc.proxy]\nmax_age = "30d"\n', 'gc test', keel.root).gc };
    const run = (dryRun: boolean) => runGc(config, { stores: 'proxy', dryRun, deleteUntagged: false, list: true }, { clock, logger: pino({ level: 'silent' }) });
    const dry = await run(true);
    const real = await run(false);
    expect(dry.items).toEqual(real.items);
    const items = real.items ?? [];
    expect(items).toContainEqual({ store: 'proxy', kind: 'tag', repository: 'proxy/up/lib/listed', tag: 'v1', digest: old.digest });
    expect(items).toContainEqual(expect.objectContaining({ store: 'proxy', kind: 'manifest', repository: 'proxy/up/lib/listed', digest: old.digest }));
    const blobs = items.filter((i) => i.kind === 'blob').map((i) => i.digest);
    expect(blobs.sort()).toEqual([...old.own, shared.digest].sort());
    expect(items.find((i) => i.digest === shared.digest)?.size).toBe(4000);
    expect(real.stores[0]).toMatchObject({ tags: 1, manifests: 1, blobs: blobs.length });
  });

  test('beyond max_size the least recently read images go first; a recent read keeps an old image', async () => {
    const shared = await up.pushBlob('shared/src', randomBytes(100));
    const a = await cacheImage('lib/a', 'v1', shared);
    clock.advance(2 * 3_600_000);
    const b = await cacheImage('lib/b', 'v1', shared);
    clock.advance(2 * 3_600_000);
    const c = await cacheImage('lib/c', 'v1', shared);
    clock.advance(2 * 3_600_000);
    // Reading a makes it the most recently used.
    expect((await client.fetch('/v2/proxy/up/lib/a/manifests/v1')).status).toBe(200);
    clock.advance(2 * 3_600_000);

    // Each image holds ~2.7 KiB of its own (two 1 KiB layers, config, manifest): 6 KiB keeps two of three.
    const summary = await gcProxy('[gc.proxy]\nmax_age = "0s"\nmax_size = "6KiB"\n');
    expect(summary.tags).toBe(1);
    for (const d of b.own) expect(cached(d)).toBe(false);
    for (const d of [...a.own, ...c.own, shared.digest]) expect(cached(d)).toBe(true);
  });

  test('a pinned image (by tag, or by digest) outlives max_age and a tiny max_size; unpinned, it goes', async () => {
    const shared = await up.pushBlob('shared/src', randomBytes(100));
    const byTag = await cacheImage('lib/pinned', 'v1', shared);
    const byDigest = await cacheImage('lib/digest', 'v1', shared);
    const other = await cacheImage('lib/other', 'v1', shared);
    const warm = async (body: object): Promise<void> => {
      const res = await client.fetch('/api/v1/warm', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      const summary = JSON.parse((await res.text()).trim().split('\n').pop() as string) as { failed: number };
      expect(summary.failed).toBe(0);
    };
    await warm({ references: ['proxy/up/lib/pinned:v1', `proxy/up/lib/digest@${byDigest.digest}`], pin: true });
    clock.advance(40 * DAY);

    const summary = await gcProxy('[gc.proxy]\nmax_age = "30d"\nmax_size = "1"\n');
    // lib/digest's tag goes (its tag is not pinned, the manifest by digest is), lib/other's too.
    expect(summary.tags).toBe(2);
    for (const d of [...byTag.own, byTag.digest, ...byDigest.own, byDigest.digest, shared.digest]) expect([d, cached(d)]).toEqual([d, true]);
    for (const d of [...other.own, other.digest]) expect([d, cached(d)]).toEqual([d, false]);

    await warm({ references: ['proxy/up/lib/pinned:v1', `proxy/up/lib/digest@${byDigest.digest}`], unpin: true });
    const after = await gcProxy('[gc.proxy]\nmax_age = "30d"\nmax_size = "1"\n');
    expect(after.tags).toBe(1);
    for (const d of [...byTag.own, byTag.digest, ...byDigest.own, byDigest.digest, shared.digest]) expect([d, cached(d)]).toEqual([d, false]);
  });

  test('nothing fetched within the grace period is evicted', async () => {
    const shared = await up.pushBlob('shared/src', randomBytes(100));
    const fresh = await cacheImage('lib/fresh', 'v1', shared);
    const summary = await gcProxy('[gc.proxy]\nmax_size = "1"\n');
    expect(summary).toMatchObject({ blobs: 0, manifests: 0, tags: 0 });
    for (const d of fresh.own) expect(cached(d)).toBe(true);
  });

  test('a file the scan found unknown, fetched again before its removal, is kept: served from the cache', async () => {
    const bytes = randomBytes(4000);
    const { digest } = await up.pushBlob('again/src', bytes);
    const path = blobPath(keel.config.proxy_storage, digest as Digest);
    // Left by a crash (file written, no row), then found by a scan that takes long.
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, bytes);
    // Past the grace period for the file's mtime even once fetched again: only the index re-check keeps it.
    clock.advance(2 * 3_600_000);
    const phases: string[] = [];
    const progress: Progress = {
      start: async (phase, total) => {
        phases.push(`${phase} ${total}`);
        if (phase !== 'proxy orphans') return;
        const res = await client.fetch(`/v2/proxy/up/again/src/blobs/${digest}`);
        expect(res.status).toBe(200);
        await res.arrayBuffer(); // stored once the whole body went through
      },
      tick: () => undefined,
      stop: () => undefined,
    };
    const summary = await runGc(keel.config, { stores: 'proxy', dryRun: false, deleteUntagged: false }, { clock, logger: pino({ level: 'silent' }), progress });
    expect(phases).toContain('proxy orphans 1');
    expect((await readFile(path)).equals(bytes)).toBe(true);
    // Gone upstream: what the proxy serves now comes from its own row and file.
    expect((await up.fetch(`/v2/again/src/blobs/${digest}`, { method: 'DELETE' })).status).toBe(202);
    expect((await up.fetch(`/v2/again/src/blobs/${digest}`)).status).toBe(404);
    const res = await client.fetch(`/v2/proxy/up/again/src/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(digest);
    expect(summary.stores[0]?.orphans).toBe(0);
  });
});
