/**
 * Checks of the official OCI distribution-spec conformance suite (opencontainers/distribution-spec,
 * conformance/) that the other HTTP tests do not already cover, replayed with the suite's own test
 * data where it matters: manifests are written the way the suite writes them (Go's
 * json.MarshalIndent with a tab, descriptors carrying `data` and `newUnspecifiedField`), and
 * requests carry the same headers. Each test names the suite file and case it stands for.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, errorCode, OCI_INDEX, OCI_MANIFEST, randomBytes, sha256, sha512, type Descriptor } from '../support/oci-client.js';
import { fetchBody } from '../support/fetch-body.js';

const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCTET = 'application/octet-stream';
/** The error codes the suite accepts in an error body (setup.go `errorCodes`). */
const SUITE_ERROR_CODES = [
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN', 'MANIFEST_UNVERIFIED', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'TAG_INVALID', 'UNAUTHORIZED', 'DENIED',
  'UNSUPPORTED',
];
/** setup.go: the gzipped tarball every suite image uses as its one layer. */
const SUITE_LAYER = Buffer.from(
  'H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8' +
    'im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qDjMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA',
  'base64',
);
/** setup.go `annotationKey`: every referrer the suite pushes carries exactly this one annotation. */
const ANNOTATION = 'org.opencontainers.conformance.test';

interface IndexBody {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

let keel: KeelProcess;
let client: Client;
beforeAll(async () => {
  // Default configuration on purpose: the suite runs against a registry as shipped.
  keel = await startKeel();
  client = new Client(keel.url);
});
afterAll(() => keel.destroy());

/** Go's json.MarshalIndent(v, "", "\t"): how the suite serialises every manifest it pushes. */
function goJSON(value: object): Buffer {
  return Buffer.from(JSON.stringify(value, null, '\t'));
}

/**
 * A descriptor as the suite's Go struct marshals it (image.go): `data` when set, and the
 * unknown field `newUnspecifiedField` always present (base64, or null when unset).
 */
function goDescriptor(d: { mediaType: string; digest: string; size: number }, extra: { data?: Buffer; unspecified?: string } = {}): object {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(extra.data ? { data: extra.data.toString('base64') } : {}),
    newUnspecifiedField: extra.unspecified === undefined ? null : Buffer.from(extra.unspecified).toString('base64'),
  };
}

/** setup.go: a config with a random author, so each workflow gets its own config digest. */
function suiteConfig(): Buffer {
  return goJSON({ author: randomBytes(8).toString('hex'), architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
}

/** setup.go `manifests[i]`: config (with data and an unknown field) plus the suite layer. */
function suiteManifest(config: Buffer): Buffer {
  return goJSON({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: goDescriptor({ mediaType: OCI_CONFIG, digest: sha256(config), size: config.length }, { data: config, unspecified: 'hello world' }),
    layers: [goDescriptor({ mediaType: LAYER_GZIP, digest: sha256(SUITE_LAYER), size: SUITE_LAYER.length })],
  });
}

function putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string = OCI_MANIFEST): Promise<Response> {
  return client.fetch(`/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'Content-Type': mediaType }, body: fetchBody(bytes) });
}

async function startUpload(repo: string): Promise<string> {
  const res = await client.fetch(`/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } });
  expect(res.status).toBe(202);
  const location = res.headers.get('location');
  expect(location).toBeTruthy();
  return location as string;
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`;
}

/** Sends a request with a body whatever the method (fetch refuses a body on GET, the suite sends one). */
function rawRequest(method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${keel.url}${path}`, { method, headers: { ...headers, 'Content-Length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function indexOf(res: Response): Promise<IndexBody> {
  const body: unknown = await res.json();
  return body as IndexBody;
}

describe('Pull (01_pull_test.go)', () => {
  test('HEAD and GET of the nonexistent manifest ".INVALID_MANIFEST_NAME" are 404 (also 02_push "GET nonexistent manifest should return 404")', async () => {
    const repo = 'conf/pull-missing';
    await client.pushImage(repo, 'tagtest0');
    const head = await client.fetch(`/v2/${repo}/manifests/.INVALID_MANIFEST_NAME`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
    expect(head.status).toBe(404);
    const get = await client.fetch(`/v2/${repo}/manifests/.INVALID_MANIFEST_NAME`, { headers: { Accept: OCI_MANIFEST } });
    expect(get.status).toBe(404);
    expect(await errorCode(get)).toBe('MANIFEST_UNKNOWN');
  });

  test('"400 response body should contain OCI-conforming JSON message": GET manifests/sha256:totallywrong with a body', async () => {
    const repo = 'conf/pull-errors';
    await client.pushImage(repo, 'tagtest0');
    const res = await rawRequest('GET', `/v2/${repo}/manifests/sha256:totallywrong`, { 'Content-Type': OCI_MANIFEST }, Buffer.from('blablabla'));
    expect([400, 404]).toContain(res.status);
    if (res.status === 400) {
      const body = JSON.parse(res.body) as { errors?: Array<{ code: string }> };
      expect(SUITE_ERROR_CODES).toContain(body.errors?.[0]?.code);
    }
  });

  test('suite manifests (descriptor `data` and unknown `newUnspecifiedField`) are stored and served byte for byte by tag and digest', async () => {
    const repo = 'conf/pull-manifests';
    const config = suiteConfig();
    await client.pushBlob(repo, config);
    await client.pushBlob(repo, SUITE_LAYER);
    const manifest = suiteManifest(config);
    const digest = sha256(manifest);
    const byTag = await putManifest(repo, 'tagtest0', manifest);
    expect(byTag.status).toBe(201);
    expect(byTag.headers.get('location')).toBeTruthy();
    for (const ref of [digest, 'tagtest0']) {
      const head = await client.fetch(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
      expect(head.status).toBe(200);
      expect(head.headers.get('docker-content-digest')).toBe(digest);
      expect(head.headers.get('content-length')).toBe(String(manifest.length));
      const get = await client.fetch(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      expect(get.status).toBe(200);
      expect(get.headers.get('content-type')).toBe(OCI_MANIFEST);
      expect(Buffer.from(await get.arrayBuffer()).equals(manifest)).toBe(true);
    }
  });
});

describe('Push (02_push_test.go and the newest suite, run.go/api.go)', () => {
  test('"Registry should accept a manifest upload with no layers": the suite\'s manifest without mediaType and with layers [] is 201 with a pullable Location', async () => {
    const repo = 'conf/push-nolayers';
    const config = suiteConfig();
    await client.pushBlob(repo, config);
    const manifest = goJSON({
      schemaVersion: 2,
      config: goDescriptor({ mediaType: OCI_CONFIG, digest: sha256(config), size: config.length }, { data: config, unspecified: 'hello world' }),
      layers: [],
    });
    const res = await putManifest(repo, 'emptylayer', manifest);
    expect(res.status).toBe(201);
    const location = res.headers.get('location');
    expect(location).toBeTruthy();
    const get = await client.fetch(location as string, { headers: { Accept: `${OCI_INDEX}, ${OCI_MANIFEST}` } });
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toBe(OCI_MANIFEST);
    expect(Buffer.from(await get.arrayBuffer()).equals(manifest)).toBe(true);
  });

  test('"Cross-mounting of a blob without the from argument should yield session id": 202 with a usable upload Location', async () => {
    const repo = 'conf/push-mount-nofrom';
    const res = await client.fetch(`/v2/${repo}/blobs/uploads/?mount=${sha256('hello world')}`, { method: 'POST' });
    expect(res.status).toBe(202);
    const location = res.headers.get('location');
    expect(location).toMatch(new RegExp(`^/v2/${repo}/blobs/uploads/`));
    const data = randomBytes(42);
    const put = await client.fetch(withDigest(location as string, sha256(data)), { method: 'PUT', headers: { 'Content-Type': OCTET }, body: data });
    expect(put.status).toBe(201);
  });

  test('chunked upload whose last chunk rides on the closing PUT with Content-Range ("chunked multi and put chunk")', async () => {
    const repo = 'conf/push-putchunk';
    const data = randomBytes(3 * 1024 - 5);
    let location = await startUpload(repo);
    for (const [start, end] of [[0, 1023], [1024, 2047]] as const) {
      const res = await client.fetch(location, {
        method: 'PATCH',
        headers: { 'Content-Type': OCTET, 'Content-Range': `${start}-${end}` },
        body: data.subarray(start, end + 1),
      });
      expect(res.status).toBe(202);
      location = res.headers.get('location') as string;
    }
    const put = await client.fetch(withDigest(location, sha256(data)), {
      method: 'PUT',
      headers: { 'Content-Type': OCTET, 'Content-Range': `2048-${data.length - 1}` },
      body: data.subarray(2048),
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(sha256(data));
    const blob = await client.fetch(put.headers.get('location') as string);
    expect(blob.status).toBe(200);
    expect(Buffer.from(await blob.arrayBuffer()).equals(data)).toBe(true);
  });

  test('an out-of-order chunk, also on the closing PUT, is 416; GET then reports the unchanged Range ("chunked out-of-order and put chunk")', async () => {
    const repo = 'conf/push-ooo';
    const data = randomBytes(3000);
    const location = await startUpload(repo);
    const skipAhead = await client.fetch(location, { method: 'PATCH', headers: { 'Content-Type': OCTET, 'Content-Range': '1000-1999' }, body: data.subarray(1000, 2000) });
    expect(skipAhead.status).toBe(416);
    const first = await client.fetch(location, { method: 'PATCH', headers: { 'Content-Type': OCTET, 'Content-Range': '0-999' }, body: data.subarray(0, 1000) });
    expect(first.status).toBe(202);
    const badPut = await client.fetch(withDigest(location, sha256(data)), {
      method: 'PUT',
      headers: { 'Content-Type': OCTET, 'Content-Range': '2000-2999' },
      body: data.subarray(2000),
    });
    expect(badPut.status).toBe(416);
    const status = await client.fetch(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('location')).toBeTruthy();
    expect(status.headers.get('range')).toBe('0-999');
    const second = await client.fetch(status.headers.get('location') as string, {
      method: 'PATCH',
      headers: { 'Content-Type': OCTET, 'Content-Range': '1000-1999' },
      body: data.subarray(1000, 2000),
    });
    expect(second.status).toBe(202);
    expect(second.headers.get('range')).toBe('0-1999');
    const put = await client.fetch(withDigest(second.headers.get('location') as string, sha256(data)), {
      method: 'PUT',
      headers: { 'Content-Type': OCTET, 'Content-Range': '2000-2999' },
      body: data.subarray(2000),
    });
    expect(put.status).toBe(201);
  });

  test('a closing PUT whose digest does not match streamed chunks is 400 DIGEST_INVALID ("bad digest stream" / "bad digest chunked")', async () => {
    const repo = 'conf/push-baddigest';
    const data = randomBytes(3000);
    const location = await startUpload(repo);
    const patch = await client.fetch(location, { method: 'PATCH', headers: { 'Content-Type': OCTET }, body: Buffer.concat([data, Buffer.from('oh no')]) });
    expect(patch.status).toBe(202);
    const put = await client.fetch(withDigest(patch.headers.get('location') as string, sha256(data)), {
      method: 'PUT',
      headers: { 'Content-Type': OCTET, 'Content-Length': '0' },
    });
    expect(put.status).toBe(400);
    expect(await errorCode(put)).toBe('DIGEST_INVALID');
    expect((await client.fetch(`/v2/${repo}/blobs/${sha256(data)}`, { method: 'HEAD' })).status).toBe(404);
  });

  test('a zero-byte blob is pushed by every upload method and read back (newest suite, data set "empty")', async () => {
    const repo = 'conf/push-emptyblob';
    const empty = Buffer.alloc(0);
    const digest = sha256(empty);
    const check = async (): Promise<void> => {
      const head = await client.fetch(`/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe('0');
      const get = await client.fetch(`/v2/${repo}/blobs/${digest}`);
      expect(get.status).toBe(200);
      expect((await get.arrayBuffer()).byteLength).toBe(0);
      expect((await client.fetch(`/v2/${repo}/blobs/${digest}`, { method: 'DELETE' })).status).toBe(202);
    };
    // POST ?digest= with the (empty) body
    const post = await client.fetch(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { 'Content-Type': OCTET, 'Content-Length': '0' } });
    expect(post.status).toBe(201);
    await check();
    // POST, then PUT with the (empty) body
    const put = await client.fetch(withDigest(await startUpload(repo), digest), { method: 'PUT', headers: { 'Content-Type': OCTET, 'Content-Length': '0' } });
    expect(put.status).toBe(201);
    await check();
    // POST, streamed PATCH of nothing, PUT
    const patch = await client.fetch(await startUpload(repo), { method: 'PATCH', headers: { 'Content-Type': OCTET }, body: empty });
    expect(patch.status).toBe(202);
    const close = await client.fetch(withDigest(patch.headers.get('location') as string, digest), { method: 'PUT', headers: { 'Content-Type': OCTET } });
    expect(close.status).toBe(201);
    await check();
  });

  test('an image index, an index of that index, and an empty index are accepted and served ("Registry should accept a manifest upload with (nested) image index")', async () => {
    const repo = 'conf/push-index';
    const config = suiteConfig();
    await client.pushBlob(repo, config);
    await client.pushBlob(repo, SUITE_LAYER);
    const manifest = suiteManifest(config);
    expect((await putManifest(repo, 'tagtest0', manifest)).status).toBe(201);
    const index = goJSON({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      artifactType: 'application/vnd.food.stand',
      manifests: [goDescriptor({ mediaType: OCI_MANIFEST, digest: sha256(manifest), size: manifest.length })],
      annotations: { [ANNOTATION]: 'test index' },
    });
    const nested = goJSON({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      artifactType: 'application/vnd.food.stand',
      manifests: [goDescriptor({ mediaType: OCI_INDEX, digest: sha256(index), size: index.length })],
      annotations: { [ANNOTATION]: 'test index' },
    });
    const empty = goJSON({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    for (const body of [index, nested, empty]) {
      const res = await putManifest(repo, sha256(body), body, OCI_INDEX);
      expect(res.status).toBe(201);
      const get = await client.fetch(res.headers.get('location') as string, { headers: { Accept: `${OCI_INDEX}, ${OCI_MANIFEST}` } });
      expect(get.status).toBe(200);
      expect(get.headers.get('content-type')).toBe(OCI_INDEX);
      expect(get.headers.get('docker-content-digest')).toBe(sha256(body));
      expect(Buffer.from(await get.arrayBuffer()).equals(body)).toBe(true);
    }
  });

  test('an index whose children are addressed by sha512 is pushed and pulled by sha512 digest (newest suite, data set "sha512")', async () => {
    const repo = 'conf/push-sha512';
    const config = suiteConfig();
    const pushed = await client.fetch(`/v2/${repo}/blobs/uploads/?digest=${sha512(config)}`, { method: 'POST', body: fetchBody(config) });
    expect(pushed.status).toBe(201);
    const manifest = goJSON({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: sha512(config), size: config.length }, layers: [] });
    expect((await putManifest(repo, sha512(manifest), manifest)).status).toBe(201);
    const index = goJSON({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha512(manifest), size: manifest.length }] });
    const res = await putManifest(repo, sha512(index), index, OCI_INDEX);
    expect(res.status).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(sha512(index));
    const get = await client.fetch(`/v2/${repo}/manifests/${sha512(index)}`, { headers: { Accept: `${OCI_INDEX}, ${OCI_MANIFEST}` } });
    expect(get.status).toBe(200);
    expect(Buffer.from(await get.arrayBuffer()).equals(index)).toBe(true);
  });

  test('with the default limits a ~3.9 MB manifest (390 annotations of 10000 bytes) is accepted and served (newest suite, data set "large-manifest")', async () => {
    const repo = 'conf/push-large';
    const config = suiteConfig();
    await client.pushBlob(repo, config);
    await client.pushBlob(repo, SUITE_LAYER);
    const annotations: Record<string, string> = {};
    for (let i = 0; i < 390; i++) annotations[`large-annotation-${i}`] = 'A'.repeat(10000);
    const manifest = goJSON({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: LAYER_GZIP, digest: sha256(SUITE_LAYER), size: SUITE_LAYER.length }],
      annotations,
    });
    expect(manifest.length).toBeGreaterThan(3_900_000);
    const res = await putManifest(repo, 'large-manifest', manifest);
    expect(res.status).toBe(201);
    const get = await client.fetch(`/v2/${repo}/manifests/large-manifest`, { headers: { Accept: OCI_MANIFEST } });
    expect(get.status).toBe(200);
    expect(get.headers.get('content-length')).toBe(String(manifest.length));
    expect(Buffer.from(await get.arrayBuffer()).equals(manifest)).toBe(true);
  });

  test('non-distributable layers that were never pushed do not block the manifest (newest suite, data set "non-distributable-layers")', async () => {
    const repo = 'conf/push-nondist';
    const config = suiteConfig();
    await client.pushBlob(repo, config);
    await client.pushBlob(repo, SUITE_LAYER);
    const foreign = sha256(randomBytes(256));
    const manifest = goJSON({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', digest: foreign, size: 123456, urls: [`https://store.example.com/blobs/sha256/${foreign.slice(7)}`] },
        { mediaType: LAYER_GZIP, digest: sha256(SUITE_LAYER), size: SUITE_LAYER.length },
      ],
    });
    const res = await putManifest(repo, 'non-distributable-image', manifest);
    expect(res.status).toBe(201);
  });
});

describe('Content Discovery (03_discovery_test.go)', () => {
  test('tags with mixed case are listed sorted (ASCII or case-insensitive), limited by n, and continued after `last` with or without n', async () => {
    const repo = 'conf/disc-tags';
    const config = suiteConfig();
    await client.pushBlob(repo, config);
    await client.pushBlob(repo, SUITE_LAYER);
    const manifest = suiteManifest(config);
    for (let i = 0; i < 4; i++) {
      for (const tag of [`test${i}`, `TEST${i}`]) expect((await putManifest(repo, tag, manifest)).status).toBe(201);
    }
    const all = await client.fetch(`/v2/${repo}/tags/list`);
    expect(all.status).toBe(200);
    const tags = ((await all.json()) as { tags: string[] }).tags;
    expect(tags).toHaveLength(8);
    const ascii = [...tags].sort();
    const lexical = [...tags].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    expect([ascii, lexical]).toContainEqual(tags);
    const half = tags.length / 2;
    const page = await client.fetch(`/v2/${repo}/tags/list?n=${half}`);
    const first = ((await page.json()) as { tags: string[] }).tags;
    expect(first).toEqual(tags.slice(0, half));
    const last = first[half - 1] as string;
    const next = await client.fetch(`/v2/${repo}/tags/list?n=${half}&last=${last}`);
    expect(next.status).toBe(200);
    expect(((await next.json()) as { tags: string[] }).tags).toEqual(tags.slice(half));
    const rest = await client.fetch(`/v2/${repo}/tags/list?last=${last}`);
    expect(rest.status).toBe(200);
    expect(((await rest.json()) as { tags: string[] }).tags).toEqual(tags.slice(half));
  });

  test('the suite\'s referrers setup: OCI-Subject on every push, 5 referrers with their annotations, artifactType filter, dangling subject', async () => {
    const repo = 'conf/disc-referrers';
    const emptyJSON = Buffer.from('{}');
    const refA = Buffer.from('NHL Peanut Butter on my NHL bagel');
    const refB = Buffer.from('NBA Strawberry Jam on my NBA croissant');
    const typeA = 'application/vnd.nhl.peanut.butter.bagel';
    const typeB = 'application/vnd.nba.strawberry.jam.croissant';
    const emptyDesc = goDescriptor({ mediaType: OCI_EMPTY, digest: sha256(emptyJSON), size: 2 });
    const config4 = suiteConfig();
    const manifest4 = suiteManifest(config4);
    const manifest3 = suiteManifest(suiteConfig()); // never pushed: a dangling subject
    const subject4 = goDescriptor({ mediaType: OCI_MANIFEST, digest: sha256(manifest4), size: manifest4.length });
    const subject3 = goDescriptor({ mediaType: OCI_MANIFEST, digest: sha256(manifest3), size: manifest3.length });
    const referrer = (fields: object, annotation?: string): Buffer =>
      goJSON({ schemaVersion: 2, mediaType: OCI_MANIFEST, ...fields, ...(annotation ? { annotations: { [ANNOTATION]: annotation } } : {}) });
    // config.mediaType carries the artifact type (no artifactType field)
    const aConfig = referrer({ config: goDescriptor({ mediaType: typeA, digest: sha256(refA), size: refA.length }), layers: [emptyDesc], subject: subject4 }, 'test config a');
    const bConfig = referrer({ config: goDescriptor({ mediaType: typeB, digest: sha256(refB), size: refB.length }), layers: [emptyDesc], subject: subject4 }, 'test config b');
    // artifactType with the empty config
    const aLayer = referrer({ artifactType: typeA, config: emptyDesc, layers: [goDescriptor({ mediaType: typeA, digest: sha256(refA), size: refA.length })], subject: subject4 }, 'test layer a');
    const bLayer = referrer({ artifactType: typeB, config: emptyDesc, layers: [goDescriptor({ mediaType: typeB, digest: sha256(refB), size: refB.length })], subject: subject4 }, 'test layer b');
    const cLayer = referrer({ artifactType: typeB, config: emptyDesc, layers: [goDescriptor({ mediaType: typeB, digest: sha256(refB), size: refB.length })], subject: subject3 });
    const index = goJSON({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      artifactType: 'application/vnd.food.stand',
      manifests: [
        goDescriptor({ mediaType: OCI_MANIFEST, digest: sha256(aConfig), size: aConfig.length }),
        goDescriptor({ mediaType: OCI_MANIFEST, digest: sha256(aLayer), size: aLayer.length }),
      ],
      subject: subject4,
      annotations: { [ANNOTATION]: 'test index' },
    });
    const expected = new Map<string, { annotation: string; artifactType: string; mediaType: string; size: number }>([
      [sha256(aConfig), { annotation: 'test config a', artifactType: typeA, mediaType: OCI_MANIFEST, size: aConfig.length }],
      [sha256(aLayer), { annotation: 'test layer a', artifactType: typeA, mediaType: OCI_MANIFEST, size: aLayer.length }],
      [sha256(index), { annotation: 'test index', artifactType: 'application/vnd.food.stand', mediaType: OCI_INDEX, size: index.length }],
      [sha256(bConfig), { annotation: 'test config b', artifactType: typeB, mediaType: OCI_MANIFEST, size: bConfig.length }],
      [sha256(bLayer), { annotation: 'test layer b', artifactType: typeB, mediaType: OCI_MANIFEST, size: bLayer.length }],
    ]);

    const pushReferrer = async (body: Buffer, subject: Buffer, mediaType: string = OCI_MANIFEST): Promise<void> => {
      const res = await putManifest(repo, sha256(body), body, mediaType);
      expect(res.status).toBe(201);
      expect(res.headers.get('oci-subject')).toBe(sha256(subject));
    };
    // The suite's order: some referrers before the subject exists, some after.
    await client.pushBlob(repo, emptyJSON);
    await client.pushBlob(repo, refA);
    await pushReferrer(aConfig, manifest4);
    await pushReferrer(aLayer, manifest4);
    await pushReferrer(index, manifest4, OCI_INDEX);
    await client.pushBlob(repo, config4);
    await client.pushBlob(repo, SUITE_LAYER);
    expect((await putManifest(repo, 'tagtest0', manifest4)).status).toBe(201);
    await client.pushBlob(repo, refB);
    await pushReferrer(bConfig, manifest4);
    await pushReferrer(bLayer, manifest4);
    await pushReferrer(cLayer, manifest3);

    const all = await client.fetch(`/v2/${repo}/referrers/${sha256(manifest4)}`);
    expect(all.status).toBe(200);
    expect(all.headers.get('content-type')).toBe(OCI_INDEX);
    const listed = await indexOf(all);
    expect(listed.schemaVersion).toBe(2);
    expect(listed.mediaType).toBe(OCI_INDEX);
    expect(listed.manifests).toHaveLength(5);
    for (const d of listed.manifests) {
      const want = expected.get(d.digest);
      expect(want).toBeDefined();
      expect(d.annotations).toEqual({ [ANNOTATION]: want?.annotation });
      expect([d.mediaType, d.size, d.artifactType]).toEqual([want?.mediaType, want?.size, want?.artifactType]);
    }

    const filtered = await client.fetch(`/v2/${repo}/referrers/${sha256(manifest4)}?artifactType=${typeA}`);
    expect(filtered.status).toBe(200);
    expect(filtered.headers.get('content-type')).toBe(OCI_INDEX);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect((await indexOf(filtered)).manifests.map((d) => d.digest).sort()).toEqual([sha256(aConfig), sha256(aLayer)].sort());

    const dangling = await client.fetch(`/v2/${repo}/referrers/${sha256(manifest3)}`);
    expect(dangling.status).toBe(200);
    expect((await indexOf(dangling)).manifests.map((d) => d.digest)).toEqual([sha256(cLayer)]);
  });

  test('referrers of any digest in a repository that holds no content are 200 with an empty OCI index, never 404 (newest suite "empty"/"referrers"; spec: a registry supporting referrers MUST NOT return 404)', async () => {
    const res = await client.fetch(`/v2/conf/nothing-pushed-here/referrers/${sha256('hello world')}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(OCI_INDEX);
    const body: unknown = await res.json();
    expect(body).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
  });
});

describe('Blob range requests (newest suite, run.go "range requests")', () => {
  test('206 with Content-Length for each range, and 416 for a reversed range (bytes=500-0) or one past the end', async () => {
    const repo = 'conf/range';
    const data = randomBytes(2048);
    const { digest } = await client.pushBlob(repo, data);
    const partial: Array<[string, number, number]> = [
      ['bytes=500-1499', 500, 1499],
      ['bytes=500-', 500, 2047],
      ['bytes=-500', 1548, 2047],
      ['bytes=2000-5000', 2000, 2047],
    ];
    for (const [range, start, end] of partial) {
      const res = await client.fetch(`/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
      expect([range, res.status]).toEqual([range, 206]);
      expect(res.headers.get('content-length')).toBe(String(end - start + 1));
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/2048`);
      expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(start, end + 1))).toBe(true);
    }
    for (const range of ['bytes=500-0', 'bytes=5000-10000']) {
      const res = await client.fetch(`/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
      expect([range, res.status]).toEqual([range, 416]);
    }
  });
});
