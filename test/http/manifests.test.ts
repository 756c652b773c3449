import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, DOCKER_LIST, DOCKER_MANIFEST, errorCode, OCI_INDEX, OCI_MANIFEST, sha256, sha512 } from '../support/oci-client.js';

let keel: KeelProcess;
let client: Client;
beforeAll(async () => {
  keel = await startKeel({ toml: '[limits]\nmax_manifest_size = "64KiB"\n' });
  client = new Client(keel.url);
});
afterAll(() => keel.destroy());

describe('manifest PUT and GET', () => {
  test('an OCI image manifest round-trips byte for byte by tag and by digest', async () => {
    const { digest, manifest } = await client.pushImage('man/oci', 'v1');
    // Stored bytes must come back exactly, whitespace included.
    const pretty = JSON.stringify(manifest, null, 3);
    const put = await client.fetch('/v2/man/oci/manifests/pretty', { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: pretty });
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(sha256(pretty));
    expect(put.headers.get('location')).toBe(`/v2/man/oci/manifests/${sha256(pretty)}`);
    for (const [ref, expected, want] of [['v1', digest, JSON.stringify(manifest)], [digest, digest, JSON.stringify(manifest)], ['pretty', sha256(pretty), pretty]]) {
      const res = await client.fetch(`/v2/man/oci/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(OCI_MANIFEST);
      expect(res.headers.get('docker-content-digest')).toBe(expected);
      expect(await res.text()).toBe(want);
    }
  });

  test('HEAD gives type, length and digest without a body', async () => {
    const { digest } = await client.pushImage('man/head', 'latest');
    const res = await client.fetch('/v2/man/head/manifests/latest', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(res.headers.get('content-type')).toBe(OCI_MANIFEST);
    expect(Number(res.headers.get('content-length'))).toBeGreaterThan(100);
  });

  test('Docker schema 2 manifest and manifest list', async () => {
    const repo = 'man/docker';
    const config = await client.pushBlob(repo, '{"architecture":"amd64","os":"linux"}');
    const layer = await client.pushBlob(repo, 'layer bytes');
    const image = {
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { ...config, mediaType: 'application/vnd.docker.container.image.v1+json' },
      layers: [{ ...layer, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }],
    };
    const pushed = await client.pushManifest(repo, 'amd64', image, DOCKER_MANIFEST);
    const list = {
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [{ mediaType: DOCKER_MANIFEST, digest: pushed.digest, size: pushed.bytes.length, platform: { architecture: 'amd64', os: 'linux' } }],
    };
    const listPushed = await client.pushManifest(repo, 'multi', list, DOCKER_LIST);
    const res = await client.fetch(`/v2/${repo}/manifests/multi`, { headers: { Accept: `${DOCKER_LIST}, ${DOCKER_MANIFEST}` } });
    expect(res.headers.get('content-type')).toBe(DOCKER_LIST);
    expect(res.headers.get('docker-content-digest')).toBe(listPushed.digest);
    expect(await res.text()).toBe(listPushed.bytes);
  });

  test('an OCI index of two platforms', async () => {
    const repo = 'man/index';
    const a = await client.pushImage(repo, 'amd64');
    const b = await client.pushImage(repo, 'arm64');
    const size = async (d: string) => Number((await client.fetch(`/v2/${repo}/manifests/${d}`, { method: 'HEAD' })).headers.get('content-length'));
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: a.digest, size: await size(a.digest), platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: OCI_MANIFEST, digest: b.digest, size: await size(b.digest), platform: { architecture: 'arm64', os: 'linux' } },
      ],
    };
    const pushed = await client.pushManifest(repo, 'multi', index, OCI_INDEX);
    const res = await client.fetch(`/v2/${repo}/manifests/${pushed.digest}`);
    expect(res.headers.get('content-type')).toBe(OCI_INDEX);
    expect(await res.text()).toBe(pushed.bytes);
  });

  test('an artifact manifest with an artifactType and the empty config', async () => {
    const repo = 'man/artifact';
    const empty = await client.pushBlob(repo, '{}');
    const payload = await client.pushBlob(repo, 'signature bytes');
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.sbom',
      config: { ...empty, mediaType: 'application/vnd.oci.empty.v1+json' },
      layers: [{ ...payload, mediaType: 'application/vnd.example.sbom.layer' }],
    };
    const pushed = await client.pushManifest(repo, 'sbom', manifest, OCI_MANIFEST);
    expect((await client.fetch(`/v2/${repo}/manifests/${pushed.digest}`)).status).toBe(200);
  });

  test('PUT by digest checks the digest, including sha512', async () => {
    const { manifest } = await client.pushImage('man/bydigest', 'seed');
    const bytes = JSON.stringify(manifest);
    const ok = await client.fetch(`/v2/man/bydigest/manifests/${sha512(bytes)}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: bytes });
    expect(ok.status).toBe(201);
    expect(ok.headers.get('docker-content-digest')).toBe(sha512(bytes));
    const wrong = await client.fetch(`/v2/man/bydigest/manifests/${sha256('other')}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: bytes });
    expect(wrong.status).toBe(400);
    expect(await errorCode(wrong)).toBe('DIGEST_INVALID');
  });
});

describe('manifest validation', () => {
  test('a manifest referencing a blob the repository lacks is MANIFEST_BLOB_UNKNOWN', async () => {
    const repo = 'man/missing';
    const config = await client.pushBlob(repo, 'cfg');
    // The layer exists, but only in another repository.
    const foreign = await client.pushBlob('man/elsewhere', 'layer elsewhere');
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { ...config, mediaType: 'application/vnd.oci.image.config.v1+json' },
      layers: [{ ...foreign, mediaType: 'application/vnd.oci.image.layer.v1.tar' }],
    };
    const res = await client.fetch(`/v2/${repo}/manifests/x`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: JSON.stringify(manifest) });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('MANIFEST_BLOB_UNKNOWN');
    expect((await client.fetch(`/v2/${repo}/manifests/x`)).status).toBe(404);
  });

  test('an index referencing an unknown child manifest is MANIFEST_BLOB_UNKNOWN', async () => {
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('nope'), size: 10 }] };
    const res = await client.fetch('/v2/man/idx/manifests/x', { method: 'PUT', headers: { 'Content-Type': OCI_INDEX }, body: JSON.stringify(index) });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('MANIFEST_BLOB_UNKNOWN');
  });

  test('malformed manifests are MANIFEST_INVALID', async () => {
    const repo = 'man/bad';
    const cfg = await client.pushBlob(repo, 'c');
    const good = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...cfg, mediaType: 'application/vnd.oci.image.config.v1+json' }, layers: [] };
    const cases: Array<[string, string]> = [
      ['not json', OCI_MANIFEST],
      ['[]', OCI_MANIFEST],
      [JSON.stringify({ ...good, schemaVersion: 1 }), OCI_MANIFEST],
      [JSON.stringify({ ...good, config: { ...good.config, digest: 'sha256:zz' } }), OCI_MANIFEST],
      [JSON.stringify({ ...good, config: { ...good.config, size: -1 } }), OCI_MANIFEST],
      [JSON.stringify({ ...good, config: { ...good.config, size: cfg.size + 1 } }), OCI_MANIFEST],
      [JSON.stringify(good), DOCKER_MANIFEST],
      [JSON.stringify({ schemaVersion: 1, name: 'x' }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
      [JSON.stringify({ ...good, mediaType: 'application/x-unknown' }), 'application/x-unknown'],
    ];
    for (const [body, type] of cases) {
      const res = await client.fetch(`/v2/${repo}/manifests/t`, { method: 'PUT', headers: { 'Content-Type': type }, body });
      expect([res.status, body.slice(0, 60)]).toEqual([400, body.slice(0, 60)]);
      expect(await errorCode(res)).toBe('MANIFEST_INVALID');
    }
  });

  test('a manifest over the size cap is refused with 413 before it is parsed', async () => {
    const res = await client.fetch('/v2/man/huge/manifests/t', { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: 'x'.repeat(65 * 1024) });
    expect(res.status).toBe(413);
    expect(await errorCode(res)).toBe('MANIFEST_INVALID');
  });

  test('an invalid tag is refused on push and unknown on pull', async () => {
    const { manifest } = await client.pushImage('man/badtag', 'ok');
    const put = await client.fetch(`/v2/man/badtag/manifests/${'t'.repeat(200)}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: JSON.stringify(manifest) });
    expect(put.status).toBe(400);
    expect(await errorCode(put)).toBe('MANIFEST_INVALID');
    const get = await client.fetch(`/v2/man/badtag/manifests/${'t'.repeat(200)}`);
    expect(get.status).toBe(404);
    expect(await errorCode(get)).toBe('MANIFEST_UNKNOWN');
  });
});

describe('content negotiation', () => {
  test('an index is not served to a client that only accepts image manifests', async () => {
    const repo = 'neg/index';
    const a = await client.pushImage(repo, 'a');
    const size = Number((await client.fetch(`/v2/${repo}/manifests/a`, { method: 'HEAD' })).headers.get('content-length'));
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: a.digest, size }] };
    await client.pushManifest(repo, 'multi', index, OCI_INDEX);
    const refused = await client.fetch(`/v2/${repo}/manifests/multi`, { headers: { Accept: DOCKER_MANIFEST } });
    expect(refused.status).toBe(404);
    expect(await errorCode(refused)).toBe('MANIFEST_UNKNOWN');
    for (const accept of [OCI_INDEX, '*/*', `${DOCKER_MANIFEST};q=0.5, ${OCI_INDEX}`]) {
      expect((await client.fetch(`/v2/${repo}/manifests/multi`, { headers: { Accept: accept } })).status).toBe(200);
    }
  });
});

describe('manifest DELETE', () => {
  test('by tag removes only the tag', async () => {
    const { digest } = await client.pushImage('del/tag', 'gone');
    const res = await client.fetch('/v2/del/tag/manifests/gone', { method: 'DELETE' });
    expect(res.status).toBe(202);
    expect((await client.fetch('/v2/del/tag/manifests/gone')).status).toBe(404);
    expect((await client.fetch(`/v2/del/tag/manifests/${digest}`)).status).toBe(200);
  });

  test('by digest removes the manifest and the tags on it', async () => {
    const { digest } = await client.pushImage('del/digest', 'one');
    const res = await client.fetch(`/v2/del/digest/manifests/${digest}`, { method: 'DELETE' });
    expect(res.status).toBe(202);
    for (const ref of ['one', digest]) {
      const get = await client.fetch(`/v2/del/digest/manifests/${ref}`);
      expect(get.status).toBe(404);
      expect(await errorCode(get)).toBe('MANIFEST_UNKNOWN');
    }
    const tags = (await (await client.fetch('/v2/del/digest/tags/list')).json()) as { tags: string[] };
    expect(tags.tags).toEqual([]);
    expect((await client.fetch(`/v2/del/digest/manifests/${digest}`, { method: 'DELETE' })).status).toBe(404);
  });
});
