// Import and export for air-gapped sites with real tools. Archives come from the tools that
// write them at such sites: a real `docker save` of Debian's dockerd 20.10 (legacy format),
// and `skopeo copy oci:... oci-archive:...`; they are posted with curl exactly as the README
// says, then pulled back through Keel by skopeo and docker and compared with what went in
// (config digest and layer diff_ids; for the OCI archive, the manifest digest too). Exports
// go back in through `skopeo copy oci-archive:` and Debian's `docker load`.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Cleanup } from '../support/e2e/cleanup.js';
import { startDockerd, type Dockerd } from '../support/e2e/dockerd.js';
import { LINUX_AMD64, LINUX_ARM64, OciLayout, sha256, toDockerArchive, type BuiltImage, type BuiltIndex } from '../support/e2e/images.js';
import { run } from '../support/e2e/run.js';
import { createSkopeo, type Skopeo } from '../support/e2e/skopeo.js';
import { ensureTools, toolPath, TOOL_INSTALL_TIMEOUT_MS } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';

const LAYER_SIZE = 256 * 1024;

interface ImportAnswer {
  repository: string;
  format: string;
  digest: string;
  tags: string[];
  blobs: { count: number; bytes: number };
}

interface ManifestJson {
  mediaType: string;
  config: { digest: string };
  layers: { mediaType: string; digest: string }[];
}

describe('e2e: image import and export with docker, skopeo and curl', () => {
  const cleanup = new Cleanup();
  let keel: KeelProcess;
  let skopeo: Skopeo;
  let dockerd: Dockerd;
  let layout: OciLayout;
  /** Goes in through `docker save`. */
  let saved: BuiltImage;
  /** Goes in through `skopeo copy ... oci-archive:`. */
  let oci: BuiltImage;
  /** A multi-platform index, through `skopeo copy --all`. */
  let index: BuiltIndex;

  const ref = (repo: string, tag: string): string => `${keel.host}/${repo}:${tag}`;
  const diffIds = (image: BuiltImage): string[] => image.layers.map((l) => l.diffId);
  const file = (name: string): string => join(skopeo.dir, name);

  async function curlImport(repo: string, tag: string, archive: string): Promise<ImportAnswer> {
    const out = await run(toolPath('curl'), ['-sS', '--fail-with-body', '-F', `repository=${repo}`, '-F', `tag=${tag}`, '-F', `archive=@${archive}`, `${keel.url}/api/v1/import`]);
    return JSON.parse(out.stdout.toString('utf8')) as ImportAnswer;
  }

  async function curlExport(repo: string, tag: string, target: string): Promise<void> {
    await run(toolPath('curl'), ['-sS', '--fail-with-body', '-o', target, `${keel.url}/api/v1/export/${repo}:${tag}`]);
  }

  async function manifestOf(reference: string): Promise<{ bytes: Buffer; json: ManifestJson }> {
    const bytes = await skopeo.inspectRaw(`docker://${reference}`);
    return { bytes, json: JSON.parse(bytes.toString('utf8')) as ManifestJson };
  }

  /** Pulls `reference` into dockerd (after removing any local copy) and checks it is `image`. */
  async function dockerPullMatches(reference: string, image: BuiltImage): Promise<void> {
    await dockerd.docker(['pull', reference]);
    const pulled = await dockerd.inspectImage(reference);
    expect(pulled.Id).toBe(image.config.digest);
    expect(pulled.RootFS.Layers).toEqual(diffIds(image));
    await dockerd.docker(['rmi', '--force', reference]);
  }

  beforeAll(async () => {
    await ensureTools(['dockerd', 'docker', 'containerd', 'runc', 'skopeo', 'curl']);
    keel = cleanup.add('keel', await startKeel(), (k) => k.destroy());
    skopeo = cleanup.add('skopeo', await createSkopeo(), (s) => s.remove());
    layout = cleanup.add('oci layout', await OciLayout.create(), (l) => l.remove());
    saved = await layout.addImage({ layers: 3, layerSize: LAYER_SIZE, tag: 'saved' });
    oci = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, tag: 'oci' });
    const amd64 = await layout.addImage({ layers: 1, layerSize: LAYER_SIZE, platform: LINUX_AMD64 });
    const arm64 = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, platform: LINUX_ARM64 });
    index = await layout.addIndex([amd64, arm64], 'multi');
    dockerd = cleanup.add('dockerd', await startDockerd({ insecureRegistries: [keel.host] }), (d) => d.stop());
  }, TOOL_INSTALL_TIMEOUT_MS + 120_000);

  afterAll(async () => {
    await cleanup.run();
  }, 120_000);

  test('a real `docker save` archive imports, and docker and skopeo pull it back with the same config and diff_ids', async () => {
    // Into dockerd from a docker-archive, then out again with docker's own `docker save`.
    await toDockerArchive(skopeo, layout, 'saved', file('loaded.tar'), 'e2e/saved:v1');
    await dockerd.load(file('loaded.tar'));
    await dockerd.docker(['save', '--output', file('docker-save.tar'), 'e2e/saved:v1']);
    await dockerd.docker(['rmi', '--force', 'e2e/saved:v1']);

    const answer = await curlImport('e2e/from-docker', 'v1', file('docker-save.tar'));
    expect(answer).toMatchObject({ repository: 'e2e/from-docker', format: 'docker-save', tags: ['v1'] });
    expect(answer.blobs.count).toBe(1 + saved.layers.length);

    const { bytes, json } = await manifestOf(ref('e2e/from-docker', 'v1'));
    expect(sha256(bytes)).toBe(answer.digest);
    expect(json.config.digest).toBe(saved.config.digest);
    // docker save writes uncompressed layers: each layer's digest is its diff_id.
    expect(json.layers.map((l) => l.digest)).toEqual(diffIds(saved));
    const config = await skopeo.inspectRaw(`docker://${ref('e2e/from-docker', 'v1')}`, { config: true });
    expect(config.equals(saved.configBytes)).toBe(true);

    await dockerPullMatches(ref('e2e/from-docker', 'v1'), saved);
  });

  test("skopeo's docker-archive (layers as <hex>.tar, legacy symlinks) imports the same way", async () => {
    await toDockerArchive(skopeo, layout, 'saved', file('skopeo-archive.tar'), 'e2e/saved:v2');
    const answer = await curlImport('e2e/from-skopeo-archive', 'v1', file('skopeo-archive.tar'));
    expect(answer.format).toBe('docker-save');
    const { json } = await manifestOf(ref('e2e/from-skopeo-archive', 'v1'));
    expect(json.config.digest).toBe(saved.config.digest);
    expect(json.layers.map((l) => l.digest)).toEqual(diffIds(saved));
  });

  test('an OCI archive from skopeo imports with its manifest digest, and docker and skopeo pull it back', async () => {
    await skopeo.copy(layout.ref('oci'), `oci-archive:${file('oci.tar')}:oci`);

    const answer = await curlImport('e2e/from-oci', 'v1', file('oci.tar'));
    expect(answer).toMatchObject({ format: 'oci-layout', digest: oci.manifest.digest, tags: ['v1'] });

    const { bytes } = await manifestOf(ref('e2e/from-oci', 'v1'));
    expect(bytes.equals(oci.manifestBytes)).toBe(true);
    const config = await skopeo.inspectRaw(`docker://${ref('e2e/from-oci', 'v1')}`, { config: true });
    expect(config.equals(oci.configBytes)).toBe(true);
    await skopeo.copy(`docker://${ref('e2e/from-oci', 'v1')}`, `oci:${file('pulled')}:v1`, { preserveDigests: true });
    const index = JSON.parse(await readFile(join(file('pulled'), 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests[0]?.digest).toBe(oci.manifest.digest);

    await dockerPullMatches(ref('e2e/from-oci', 'v1'), oci);
  });

  test('an export goes back in with `skopeo copy oci-archive:` unchanged', async () => {
    await curlExport('e2e/from-oci', 'v1', file('export-oci.tar'));
    await skopeo.copy(`oci-archive:${file('export-oci.tar')}`, `docker://${ref('e2e/from-export', 'v1')}`, { preserveDigests: true });
    const { bytes } = await manifestOf(ref('e2e/from-export', 'v1'));
    expect(bytes.equals(oci.manifestBytes)).toBe(true);
    // The tag the export names can be asked for by name too.
    await skopeo.copy(`oci-archive:${file('export-oci.tar')}:v1`, `oci:${file('by-name')}:v1`, { preserveDigests: true });
  });

  test('exports load into Debian docker 20.10 with `docker load` (gzipped and uncompressed layers)', async () => {
    await curlExport('e2e/from-oci', 'v1', file('export-gzip.tar'));
    const loadedGzip = (await dockerd.docker(['load', '--input', file('export-gzip.tar')])).stdout.toString('utf8');
    expect(loadedGzip).toContain('Loaded image: e2e/from-oci:v1');
    const gzipImage = await dockerd.inspectImage('e2e/from-oci:v1');
    expect(gzipImage.Id).toBe(oci.config.digest);
    expect(gzipImage.RootFS.Layers).toEqual(diffIds(oci));

    await curlExport('e2e/from-docker', 'v1', file('export-tar.tar'));
    await dockerd.docker(['load', '--input', file('export-tar.tar')]);
    const tarImage = await dockerd.inspectImage('e2e/from-docker:v1');
    expect(tarImage.Id).toBe(saved.config.digest);
    expect(tarImage.RootFS.Layers).toEqual(diffIds(saved));

    // And what docker loaded pushes back to Keel as the same image.
    await dockerd.docker(['tag', 'e2e/from-docker:v1', ref('e2e/reloaded', 'v1')]);
    await dockerd.docker(['push', ref('e2e/reloaded', 'v1')]);
    expect((await manifestOf(ref('e2e/reloaded', 'v1'))).json.config.digest).toBe(saved.config.digest);
  });

  test('a multi-platform index goes in and out with all its children (skopeo --all)', async () => {
    await skopeo.copy(layout.ref('multi'), `oci-archive:${file('multi.tar')}:multi`, { all: true, preserveDigests: true });
    const answer = await curlImport('e2e/multi', 'v1', file('multi.tar'));
    expect(answer.digest).toBe(index.descriptor.digest);

    await curlExport('e2e/multi', 'v1', file('export-multi.tar'));
    await skopeo.copy(`oci-archive:${file('export-multi.tar')}`, `docker://${ref('e2e/multi-back', 'v1')}`, { all: true, preserveDigests: true });
    expect((await manifestOf(ref('e2e/multi-back', 'v1'))).bytes.equals(index.bytes)).toBe(true);
    for (const child of index.images) {
      expect((await skopeo.inspectRaw(`docker://${keel.host}/e2e/multi-back@${child.manifest.digest}`)).equals(child.manifestBytes)).toBe(true);
    }
    // docker load takes the linux/amd64 image that manifest.json names.
    await dockerd.docker(['load', '--input', file('export-multi.tar')]);
    const loaded = await dockerd.inspectImage('e2e/multi:v1');
    const amd64 = index.images.find((i) => i.platform.architecture === 'amd64') as BuiltImage;
    expect(loaded.Id).toBe(amd64.config.digest);
    expect(loaded.RootFS.Layers).toEqual(diffIds(amd64));
  });

  test('curl shows a bad archive as a 4xx with an OCI error', async () => {
    await writeFile(file('junk.tar'), Buffer.alloc(4096, 1));
    const out = await run(
      toolPath('curl'),
      ['-sS', '-w', '\n%{http_code}', '-F', 'repository=e2e/junk', '-F', 'tag=v1', '-F', `archive=@${file('junk.tar')}`, `${keel.url}/api/v1/import`],
    );
    const [body, status] = out.stdout.toString('utf8').split('\n');
    expect(status).toBe('400');
    expect(JSON.parse(body ?? '{}')).toMatchObject({ errors: [{ code: 'BLOB_UPLOAD_INVALID' }] });
  });
});
