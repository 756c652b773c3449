// Cache warming shown with real clients (issue 20): a real upstream (Debian's docker-registry,
// Distribution 2.8, on loopback) is seeded with skopeo --preserve-digests from an OCI layout
// built offline (a two-platform index with runnable linux/amd64 and linux/arm64 children, and
// a single-platform image: real tar layers, configs with rootfs.diff_ids); scripts/warm, the
// real executable, asks the running Keel to fetch both, every platform; the upstream's access
// log shows each blob left it once. Then the upstream is stopped and docker and ctr pull every
// warmed image, both platforms of the index, through Keel alone, and get what was pushed.
// A third image is warmed by a [[proxy.sync]] entry instead, on a run the test's clock makes due.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { WarmSummary } from '../../src/proxy/warm.js';
import { run, stopAll, WARM } from '../support/cli-process.js';
import { countRequests } from '../support/e2e/access-log.js';
import { Cleanup } from '../support/e2e/cleanup.js';
import { startContainerd, type Containerd } from '../support/e2e/containerd.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { startDockerd, type Dockerd } from '../support/e2e/dockerd.js';
import { LINUX_AMD64, LINUX_ARM64, OciLayout, type BuiltImage, type BuiltIndex } from '../support/e2e/images.js';
import { createSkopeo, type Skopeo } from '../support/e2e/skopeo.js';
import { ensureTools, TOOL_INSTALL_TIMEOUT_MS } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';

const LAYER_SIZE = 64 * 1024;
const MULTI = 'warm/multi';
const SINGLE = 'warm/single';
/** Warmed by a [[proxy.sync]] entry, not by scripts/warm. */
const SYNCED = 'warm/synced';
const HOUR = 3_600_000;
const TAG = 'v1';

const cleanup = new Cleanup();
let upstream: Distribution;
let keel: KeelProcess;
let layout: OciLayout;
let skopeo: Skopeo;
let dockerd: Dockerd;
let containerd: Containerd;
let index: BuiltIndex;
let amd64: BuiltImage;
let arm64: BuiltImage;
let single: BuiltImage;
let synced: BuiltImage;
const clock = new ManualClock();
/** Whether the upstream was stopped by the test (afterAll then leaves it alone). */
let upstreamStopped = false;

/** `<keel>/proxy/up/<repo>:<tag>` or `...@<digest>`. */
const keelRef = (repo: string, tagOrDigest = TAG): string =>
  `${keel.host}/proxy/up/${repo}${tagOrDigest.startsWith('sha256:') ? '@' : ':'}${tagOrDigest}`;
const diffIds = (i: BuiltImage): string[] => i.layers.map((l) => l.diffId);
const blobsOf = (i: BuiltImage): string[] => [i.config.digest, ...i.layers.map((l) => l.descriptor.digest)];
const bytesOf = (i: BuiltImage): number => i.config.size + i.layers.reduce((n, l) => n + l.descriptor.size, 0);

beforeAll(async () => {
  await ensureTools(['dockerd', 'docker', 'containerd', 'ctr', 'runc', 'skopeo', 'docker-registry']);
  upstream = cleanup.add('distribution', await startDistribution(), (u) => (upstreamStopped ? Promise.resolve() : u.stop()));
  keel = cleanup.add(
    'keel',
    await startKeel({
      clock,
      toml: `
[proxy]
allow = ["localhost"]
tag_ttl = "5m"

[proxy.upstreams.up]
url = "${upstream.url}"
allow_private = true
timeout = "10s"

[[proxy.sync]]
upstream = "up"
repositories = ["${SYNCED}"]
tags = "v1"
interval = "1h"
`,
    }),
    (k) => k.destroy(),
  );
  skopeo = cleanup.add('skopeo', await createSkopeo(), (s) => s.remove());
  layout = cleanup.add('oci layout', await OciLayout.create(), (l) => l.remove());

  // Built one after the other: every tag rewrites the layout's index.json.
  amd64 = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, platform: LINUX_AMD64 });
  arm64 = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, platform: LINUX_ARM64 });
  index = await layout.addIndex([amd64, arm64], 'multi');
  single = await layout.addImage({ layers: 3, layerSize: LAYER_SIZE, tag: 'single' });
  synced = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, tag: 'synced' });

  // dockerd needs Keel's host:port (insecure registry); the daemons start while the upstream
  // is seeded.
  const dest = (repo: string): string => `docker://${upstream.host}/${repo}:${TAG}`;
  [, containerd, dockerd] = await Promise.all([
    (async () => {
      await skopeo.copy(layout.ref('multi'), dest(MULTI), { all: true, preserveDigests: true });
      await skopeo.copy(layout.ref('single'), dest(SINGLE), { preserveDigests: true });
      await skopeo.copy(layout.ref('synced'), dest(SYNCED), { preserveDigests: true });
    })(),
    startContainerd().then((c) => cleanup.add('containerd', c, (x) => x.stop())),
    startDockerd({ insecureRegistries: [keel.host] }).then((d) => cleanup.add('dockerd', d, (x) => x.stop())),
  ]);
}, TOOL_INSTALL_TIMEOUT_MS + 120_000);

afterAll(async () => {
  await stopAll();
  await cleanup.run();
}, 120_000);

/** Blob GETs the upstream has logged for `repo`, per digest. */
async function upstreamBlobGets(repo: string, digests: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const d of digests) counts[d] = await countRequests(upstream, 'GET', `/v2/${repo}/blobs/${d}`);
  return counts;
}

const each = (digests: readonly string[], n: number): Record<string, number> => Object.fromEntries(digests.map((d) => [d, n]));

describe('warm by list, then pull with docker and ctr with the upstream stopped', () => {
  test('scripts/warm fetches both images, every platform, each blob once from the upstream', async () => {
    const multiBlobs = [...blobsOf(amd64), ...blobsOf(arm64)];
    expect(await upstreamBlobGets(MULTI, multiBlobs)).toEqual(each(multiBlobs, 0));
    expect(await upstreamBlobGets(SINGLE, blobsOf(single))).toEqual(each(blobsOf(single), 0));

    const child = run(WARM, ['--url', keel.url, '--json', `proxy/up/${MULTI}:${TAG}`, `proxy/up/${SINGLE}:${TAG}`]);
    const code = await child.exited;
    expect([code, child.stderr()]).toEqual([0, '']);
    const summary = JSON.parse(child.stdout()) as WarmSummary;
    expect(summary.dry_run).toBe(false);
    expect(summary.failed).toBe(0);
    expect(summary.images).toHaveLength(2);
    const [multi, one] = summary.images;
    const multiBytes = bytesOf(amd64) + bytesOf(arm64);
    expect(multi).toMatchObject({
      reference: `proxy/up/${MULTI}:${TAG}`,
      digest: index.descriptor.digest,
      manifests: 3,
      blobs: 6,
      bytes: multiBytes,
      fetched: { blobs: 6, bytes: multiBytes },
      cached: { blobs: 0, bytes: 0 },
    });
    expect(multi?.error).toBeUndefined();
    expect(one).toMatchObject({
      reference: `proxy/up/${SINGLE}:${TAG}`,
      digest: single.manifest.digest,
      manifests: 1,
      blobs: 4,
      bytes: bytesOf(single),
      fetched: { blobs: 4, bytes: bytesOf(single) },
      cached: { blobs: 0, bytes: 0 },
    });
    expect(one?.error).toBeUndefined();

    expect(await upstreamBlobGets(MULTI, multiBlobs)).toEqual(each(multiBlobs, 1));
    expect(await upstreamBlobGets(SINGLE, blobsOf(single))).toEqual(each(blobsOf(single), 1));
  });

  test('a [[proxy.sync]] entry warms its image on its next run, by the clock', async () => {
    // The first run started with the server, before the upstream had the image (it may have
    // failed or not); an interval later, and so past any retry delay, the entry runs again.
    const first = await keel.running.sync.completed(0, 1);
    clock.advance(HOUR);
    keel.running.sync.tick();
    const run = await keel.running.sync.completed(0, 2);
    expect(run).toMatchObject({ outcome: 'synced', references: [`proxy/up/${SYNCED}:${TAG}`] });
    expect(run.images[0]).toMatchObject({ digest: synced.manifest.digest, blobs: 3 });
    const fetched = [...first.images, ...run.images].reduce((n, i) => n + i.fetched.blobs, 0);
    expect(fetched).toBe(3);
    expect(await upstreamBlobGets(SYNCED, blobsOf(synced))).toEqual(each(blobsOf(synced), 1));
  });

  test('the upstream is stopped', async () => {
    upstreamStopped = true;
    await upstream.stop();
    expect(upstream.process.isRunning()).toBe(false);
  });

  test('docker pulls the single-platform image', async () => {
    await dockerd.docker(['pull', keelRef(SINGLE)]);
    const pulled = await dockerd.inspectImage(keelRef(SINGLE));
    expect(pulled.Id).toBe(single.config.digest);
    expect(pulled.RepoDigests).toContain(keelRef(SINGLE, single.manifest.digest));
    expect(pulled.RootFS.Layers).toEqual(diffIds(single));
  });

  test('docker pulls the image the schedule warmed', async () => {
    await dockerd.docker(['pull', keelRef(SYNCED)]);
    const pulled = await dockerd.inspectImage(keelRef(SYNCED));
    expect(pulled.Id).toBe(synced.config.digest);
    expect(pulled.RootFS.Layers).toEqual(diffIds(synced));
  });

  test('docker pulls both platforms of the index', async () => {
    for (const [platform, image] of [
      ['linux/arm64', arm64],
      ['linux/amd64', amd64],
    ] as const) {
      await dockerd.docker(['pull', '--platform', platform, keelRef(MULTI)]);
      const pulled = await dockerd.inspectImage(keelRef(MULTI));
      expect([platform, pulled.Id, pulled.Architecture, pulled.Os]).toEqual([platform, image.config.digest, image.platform.architecture, 'linux']);
      expect([platform, pulled.RepoDigests]).toEqual([platform, [keelRef(MULTI, index.descriptor.digest)]]);
      expect(pulled.RootFS.Layers).toEqual(diffIds(image));
      // docker keeps `repo@<index digest>` on the first image it named: the image is removed
      // (untagging its last tag deletes it with its digest reference), so the next platform's
      // pull names its own.
      await dockerd.docker(['image', 'rm', keelRef(MULTI)]);
    }
  });

  test('ctr pulls and unpacks the single-platform image', async () => {
    await containerd.pull(keelRef(SINGLE));
    expect(await containerd.imageDigest(keelRef(SINGLE))).toBe(single.manifest.digest);
    const content = await containerd.contentDigests();
    for (const digest of [single.manifest.digest, ...blobsOf(single)]) expect(content).toContain(digest);
    for (const digest of blobsOf(single)) {
      expect((await containerd.readContent(digest)).equals(await readFile(layout.blobPath(digest)))).toBe(true);
    }
  });

  test('ctr pulls the image the schedule warmed', async () => {
    await containerd.pull(keelRef(SYNCED));
    expect(await containerd.imageDigest(keelRef(SYNCED))).toBe(synced.manifest.digest);
    for (const digest of blobsOf(synced)) {
      expect((await containerd.readContent(digest)).equals(await readFile(layout.blobPath(digest)))).toBe(true);
    }
  });

  test('ctr pulls each platform of the index in turn, then --all-platforms', async () => {
    // arm64 first: its blobs arrive and amd64's do not, so the amd64 pull after it fetches its own.
    await containerd.pull(keelRef(MULTI), { platform: 'linux/arm64' });
    expect(await containerd.imageDigest(keelRef(MULTI))).toBe(index.descriptor.digest);
    let content = await containerd.contentDigests();
    for (const digest of [index.descriptor.digest, arm64.manifest.digest, ...blobsOf(arm64)]) expect(content).toContain(digest);
    for (const digest of blobsOf(amd64)) expect(content).not.toContain(digest);

    await containerd.pull(keelRef(MULTI), { platform: 'linux/amd64' });
    content = await containerd.contentDigests();
    for (const digest of [amd64.manifest.digest, ...blobsOf(amd64)]) expect(content).toContain(digest);

    await containerd.pull(keelRef(MULTI), { allPlatforms: true });
    expect(await containerd.imageDigest(keelRef(MULTI))).toBe(index.descriptor.digest);
    content = await containerd.contentDigests();
    for (const image of [amd64, arm64]) {
      for (const digest of [image.manifest.digest, ...blobsOf(image)]) {
        expect(content).toContain(digest);
        expect((await containerd.readContent(digest)).equals(await readFile(layout.blobPath(digest)))).toBe(true);
      }
    }
  });
});
