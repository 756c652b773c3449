// The round trips every registry under test must pass with real clients: images built
// offline go in with skopeo, docker and podman and come back out through docker, podman and
// containerd bit-identical (manifest, config and layer digests compared). Used against Keel
// (test/e2e/local-registry.test.ts) and against CNCF Distribution (harness.test.ts).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Cleanup } from './cleanup.js';
import { startContainerd, type Containerd } from './containerd.js';
import { startDockerd, type Dockerd } from './dockerd.js';
import {
  LINUX_AMD64,
  LINUX_ARM64,
  OciLayout,
  sha256,
  toDockerArchive,
  type BuiltImage,
  type BuiltIndex,
} from './images.js';
import { createPodman, type Podman } from './podman.js';
import { createSkopeo, type Skopeo } from './skopeo.js';
import { ensureTools, TOOL_INSTALL_TIMEOUT_MS } from './tools.js';

const LAYER_SIZE = 192 * 1024;

interface ManifestJson {
  config: { digest: string };
  layers: { digest: string; size: number }[];
}

/** What a round-trip suite needs of a registry: where it listens and how to stop it. */
export interface RegistryUnderTest {
  host: string;
  url: string;
  stop(): Promise<void>;
}

/** The clients and images of a running suite, for extra tests a caller adds. */
export interface RoundTripContext {
  registry: RegistryUnderTest;
  skopeo: Skopeo;
  podman: Podman;
  containerd: Containerd;
  dockerd: Dockerd;
  layout: OciLayout;
  image: BuiltImage;
  /** The two-platform index (linux/amd64, linux/arm64) of the multi-arch test. */
  index: BuiltIndex;
  cleanup: Cleanup;
}

export function describeRoundTrips(label: string, startRegistry: () => Promise<RegistryUnderTest>, more?: (ctx: () => RoundTripContext) => void): void {
  describe(label, () => {
    const cleanup = new Cleanup();
    let registry: RegistryUnderTest;
    let skopeo: Skopeo;
    let podman: Podman;
    let containerd: Containerd;
    let dockerd: Dockerd;
    let layout: OciLayout;
    let image: BuiltImage;
    let archived: BuiltImage;
    let index: BuiltIndex;
    let amd64: BuiltImage;
    let arm64: BuiltImage;

    const ref = (repo: string, tagOrDigest: string): string =>
      `${registry.host}/${repo}${tagOrDigest.startsWith('sha256:') ? '@' : ':'}${tagOrDigest}`;
    const diffIds = (i: BuiltImage): string[] => i.layers.map((l) => l.diffId);

    async function blobFromRegistry(repo: string, digest: string): Promise<Buffer> {
      const res = await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`);
      if (res.status !== 200) throw new Error(`GET blob ${digest} from ${repo}: HTTP ${res.status}`);
      return Buffer.from(await res.arrayBuffer());
    }

    beforeAll(async () => {
      await ensureTools(['dockerd', 'docker', 'containerd', 'ctr', 'runc', 'podman', 'skopeo', 'docker-registry', 'htpasswd']);
      registry = cleanup.add('registry', await startRegistry(), (r) => r.stop());
      skopeo = cleanup.add('skopeo', await createSkopeo(), (s) => s.remove());
      podman = cleanup.add('podman', await createPodman(), (p) => p.remove());
      layout = cleanup.add('oci layout', await OciLayout.create(), (l) => l.remove());
      image = await layout.addImage({ layers: 3, layerSize: LAYER_SIZE, tag: 'single' });
      archived = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, tag: 'archived' });
      amd64 = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, platform: LINUX_AMD64 });
      arm64 = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, platform: LINUX_ARM64 });
      index = await layout.addIndex([amd64, arm64], 'multi');
      [containerd, dockerd] = await Promise.all([
        startContainerd().then((c) => cleanup.add('containerd', c, (x) => x.stop())),
        startDockerd({ insecureRegistries: [registry.host] }).then((d) => cleanup.add('dockerd', d, (x) => x.stop())),
      ]);
    }, TOOL_INSTALL_TIMEOUT_MS + 120_000);

    afterAll(async () => {
      await cleanup.run();
    }, 120_000);

    test('skopeo pushes an OCI layout without changing a byte', async () => {
      await skopeo.copy(layout.ref('single'), `docker://${ref('e2e/harness', 'v1')}`, { preserveDigests: true });

      const manifest = await skopeo.inspectRaw(`docker://${ref('e2e/harness', 'v1')}`);
      expect(sha256(manifest)).toBe(image.manifest.digest);
      expect(manifest.equals(image.manifestBytes)).toBe(true);
      const config = await skopeo.inspectRaw(`docker://${ref('e2e/harness', 'v1')}`, { config: true });
      expect(config.equals(image.configBytes)).toBe(true);
      for (const layer of image.layers) {
        const blob = await blobFromRegistry('e2e/harness', layer.descriptor.digest);
        expect(sha256(blob)).toBe(layer.descriptor.digest);
      }
    });

    test('docker pulls it through a private dockerd', async () => {
      await dockerd.docker(['pull', ref('e2e/harness', 'v1')]);

      const pulled = await dockerd.inspectImage(ref('e2e/harness', 'v1'));
      expect(pulled.Id).toBe(image.config.digest);
      expect(pulled.RepoDigests).toContain(ref('e2e/harness', image.manifest.digest));
      expect(pulled.RootFS.Layers).toEqual(diffIds(image));
    });

    test('docker loads a docker-archive and pushes it', async () => {
      const archive = join(skopeo.dir, 'archived.tar');
      await toDockerArchive(skopeo, layout, 'archived', archive, 'e2e/loaded:v1');
      await dockerd.load(archive);
      await dockerd.docker(['tag', 'e2e/loaded:v1', ref('e2e/docker-pushed', 'v1')]);
      const pushed = (await dockerd.docker(['push', ref('e2e/docker-pushed', 'v1')])).stdout.toString('utf8');

      const manifest = await skopeo.inspectRaw(`docker://${ref('e2e/docker-pushed', 'v1')}`);
      expect(pushed).toContain(`digest: ${sha256(manifest)} size: ${manifest.length}`);
      const parsed = JSON.parse(manifest.toString('utf8')) as ManifestJson;
      // docker keeps the config bytes (the image ID) but may recompress the layers.
      expect(parsed.config.digest).toBe(archived.config.digest);
      expect(parsed.layers).toHaveLength(archived.layers.length);
      await podman.pull(ref('e2e/docker-pushed', 'v1'));
      const back = await podman.inspectImage(ref('e2e/docker-pushed', 'v1'));
      expect(back.RootFS.Layers).toEqual(diffIds(archived));
    });

    test('podman pulls it', async () => {
      await podman.pull(ref('e2e/harness', 'v1'));

      const pulled = await podman.inspectImage(ref('e2e/harness', 'v1'));
      expect(pulled.Digest).toBe(image.manifest.digest);
      expect(pulled.RepoDigests).toContain(ref('e2e/harness', image.manifest.digest));
      expect(`sha256:${pulled.Id}`).toBe(image.config.digest);
      expect(pulled.RootFS.Layers).toEqual(diffIds(image));
    });

    test('containerd (ctr) pulls and unpacks it', async () => {
      await containerd.pull(ref('e2e/harness', 'v1'));

      expect(await containerd.imageDigest(ref('e2e/harness', 'v1'))).toBe(image.manifest.digest);
      const content = await containerd.contentDigests();
      for (const d of [image.manifest, image.config, ...image.layers.map((l) => l.descriptor)]) {
        expect(content).toContain(d.digest);
      }
      for (const layer of image.layers) {
        const stored = await containerd.readContent(layer.descriptor.digest);
        expect(stored.equals(await readFile(layout.blobPath(layer.descriptor.digest)))).toBe(true);
      }
    });

    test('a multi-arch index round-trips through skopeo --all, ctr, docker and podman', async () => {
      await skopeo.copy(layout.ref('multi'), `docker://${ref('e2e/multi', 'v1')}`, { all: true, preserveDigests: true });

      const served = await skopeo.inspectRaw(`docker://${ref('e2e/multi', 'v1')}`);
      expect(sha256(served)).toBe(index.descriptor.digest);
      expect(served.equals(index.bytes)).toBe(true);
      for (const child of index.images) {
        const bytes = await skopeo.inspectRaw(`docker://${ref('e2e/multi', child.manifest.digest)}`);
        expect(bytes.equals(child.manifestBytes)).toBe(true);
      }

      await containerd.pull(ref('e2e/multi', 'v1'), { allPlatforms: true });
      expect(await containerd.imageDigest(ref('e2e/multi', 'v1'))).toBe(index.descriptor.digest);
      const content = await containerd.contentDigests();
      for (const child of index.images) {
        for (const d of [child.manifest, child.config, ...child.layers.map((l) => l.descriptor)]) {
          expect(content).toContain(d.digest);
        }
      }

      await dockerd.docker(['pull', '--platform', 'linux/arm64', ref('e2e/multi', 'v1')]);
      const dockerArm = await dockerd.inspectImage(ref('e2e/multi', 'v1'));
      expect(dockerArm.Id).toBe(arm64.config.digest);
      expect(dockerArm.Architecture).toBe('arm64');
      expect(dockerArm.RepoDigests).toContain(ref('e2e/multi', index.descriptor.digest));
      expect(dockerArm.RootFS.Layers).toEqual(diffIds(arm64));

      await podman.pull(ref('e2e/multi', 'v1'), { platform: 'linux/amd64' });
      const podmanAmd = await podman.inspectImage(ref('e2e/multi', 'v1'));
      expect(`sha256:${podmanAmd.Id}`).toBe(amd64.config.digest);
      expect(podmanAmd.RootFS.Layers).toEqual(diffIds(amd64));
      expect(podmanAmd.RepoDigests).toEqual(
        expect.arrayContaining([ref('e2e/multi', index.descriptor.digest), ref('e2e/multi', amd64.manifest.digest)]),
      );
    });

    test('podman pushes an image and pulls it back', async () => {
      await podman.pull(ref('e2e/harness', 'v1'));
      await podman.podman(['tag', ref('e2e/harness', 'v1'), ref('e2e/podman-pushed', 'v1')]);
      await podman.push(ref('e2e/podman-pushed', 'v1'), ref('e2e/podman-pushed', 'v1'), { format: 'oci' });

      const manifest = JSON.parse((await skopeo.inspectRaw(`docker://${ref('e2e/podman-pushed', 'v1')}`)).toString('utf8')) as ManifestJson;
      expect(manifest.config.digest).toBe(image.config.digest);
      await podman.podman(['rmi', '--force', ref('e2e/podman-pushed', 'v1'), ref('e2e/harness', 'v1')]);
      await podman.pull(ref('e2e/podman-pushed', 'v1'));
      const back = await podman.inspectImage(ref('e2e/podman-pushed', 'v1'));
      expect(`sha256:${back.Id}`).toBe(image.config.digest);
      expect(back.RootFS.Layers).toEqual(diffIds(image));
    });

    more?.(() => ({ registry, skopeo, podman, containerd, dockerd, layout, image, index, cleanup }));
  });
}
