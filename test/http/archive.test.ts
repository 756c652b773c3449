// POST /api/v1/import and GET /api/v1/export against a real listening Keel: archives built
// in memory (legacy docker save, OCI layout, gzipped), what the registry then serves over
// /v2, what the export tar holds, bad archives, and the auth rules.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  dockerSave,
  hexOf,
  MEDIA,
  ociImage,
  ociLayout,
  postImport,
  randomLayer,
  readTar,
  sha256,
  tarOf,
  twoPlatformIndex,
} from '../support/archives.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, errorCode } from '../support/oci-client.js';
import { rootWithUsers } from '../support/htpasswd.js';
import { fetchBody } from '../support/fetch-body.js';

interface ImportAnswer {
  repository: string;
  format: string;
  digest: string;
  mediaType: string;
  tags: string[];
  manifests: string[];
  blobs: { count: number; bytes: number };
}

interface ManifestJson {
  mediaType: string;
  config: { mediaType: string; digest: string; size: number };
  layers: { mediaType: string; digest: string; size: number }[];
}

let keel: KeelProcess;
let client: Client;

beforeAll(async () => {
  keel = await startKeel();
  client = new Client(keel.url);
});
afterAll(() => keel.destroy());

async function manifestOf(repo: string, reference: string): Promise<{ bytes: Buffer; json: ManifestJson; digest: string | null }> {
  const res = await client.fetch(`/v2/${repo}/manifests/${reference}`, { headers: { Accept: `${MEDIA.manifest}, ${MEDIA.index}` } });
  expect(res.status).toBe(200);
  const bytes = Buffer.from(await res.arrayBuffer());
  return { bytes, json: JSON.parse(bytes.toString('utf8')) as ManifestJson, digest: res.headers.get('docker-content-digest') };
}

async function blobOf(repo: string, digest: string): Promise<Buffer> {
  const res = await client.fetch(`/v2/${repo}/blobs/${digest}`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

async function tagsOf(repo: string): Promise<string[]> {
  const res = await client.fetch(`/v2/${repo}/tags/list`);
  if (res.status === 404) return [];
  return ((await res.json()) as { tags: string[] }).tags;
}

async function uploadSessions(): Promise<string[]> {
  return readdir(join(keel.config.temporary_registry_storage, 'uploads')).catch(() => []);
}

async function exportTar(path: string, headers: Record<string, string> = {}): Promise<{ res: Response; files: Map<string, Buffer>; bytes: Buffer }> {
  const res = await fetch(`${keel.url}/api/v1/export/${path}`, { headers });
  expect(res.status).toBe(200);
  const bytes = Buffer.from(await res.arrayBuffer());
  return { res, files: await readTar(bytes), bytes };
}

describe('importing a docker save archive', () => {
  test('builds an OCI manifest over the config and uncompressed layers, and tags it', async () => {
    const layers = [await randomLayer(5000), await randomLayer(70_000)];
    const saved = await dockerSave({ layers, repoTags: ['team/app:ignored'] });

    const res = await postImport(keel.url, [['repository', 'imp/docker'], ['tag', 'v1'], ['tag', 'stable']], saved.archive);
    expect(res.status).toBe(201);
    const answer = (await res.json()) as ImportAnswer;
    expect(answer).toMatchObject({ repository: 'imp/docker', format: 'docker-save', mediaType: MEDIA.manifest, tags: ['v1', 'stable'] });
    expect(answer.blobs).toEqual({ count: 3, bytes: saved.config.length + layers[0]!.length + layers[1]!.length });
    expect(answer.manifests).toEqual([answer.digest]);
    expect(res.headers.get('location')).toBe(`/v2/imp/docker/manifests/${answer.digest}`);

    const { json, digest } = await manifestOf('imp/docker', 'v1');
    expect(digest).toBe(answer.digest);
    expect(json.config).toEqual({ mediaType: MEDIA.config, digest: saved.configDigest, size: saved.config.length });
    expect(json.layers).toEqual(layers.map((l) => ({ mediaType: MEDIA.layerTar, digest: sha256(l), size: l.length })));
    expect((await blobOf('imp/docker', saved.configDigest)).equals(saved.config)).toBe(true);
    expect((await blobOf('imp/docker', sha256(layers[1]!))).equals(layers[1]!)).toBe(true);
    expect((await tagsOf('imp/docker')).sort()).toEqual(['stable', 'v1']);
    // The manifest is not left behind as a blob of the repository, as after a push.
    expect((await client.fetch(`/v2/imp/docker/blobs/${answer.digest}`, { method: 'HEAD' })).status).toBe(404);
    expect(await uploadSessions()).toEqual([]);
  });

  test('follows symlinked repeat layers, accepts gzipped layers and a gzipped archive, and takes the tag from RepoTags', async () => {
    const base = await randomLayer(3000);
    const top = await randomLayer(3000);
    const saved = await dockerSave({ layers: [base, top, base], symlinkRepeats: true, gzipLayers: true, repoTags: ['example.org/team/app:from-archive'] });

    const res = await postImport(keel.url, [['repository', 'imp/gz']], gzipSync(saved.archive));
    expect(res.status).toBe(201);
    const answer = (await res.json()) as ImportAnswer;
    expect(answer.tags).toEqual(['from-archive']);
    const { json } = await manifestOf('imp/gz', 'from-archive');
    expect(json.layers.map((l) => l.mediaType)).toEqual([MEDIA.layerGzip, MEDIA.layerGzip, MEDIA.layerGzip]);
    expect(json.layers[0]!.digest).toBe(json.layers[2]!.digest);
    const first = await blobOf('imp/gz', json.layers[0]!.digest);
    expect(sha256(gunzipSync(first))).toBe(saved.diffIds[0]);
    expect(answer.blobs.count).toBe(3);
  });

  test('the same archive imported twice gives the same manifest digest', async () => {
    const saved = await dockerSave({ layers: [await randomLayer()] });
    const first = (await (await postImport(keel.url, [['repository', 'imp/twice'], ['tag', 'a']], saved.archive)).json()) as ImportAnswer;
    const second = (await (await postImport(keel.url, [['repository', 'imp/twice'], ['tag', 'b']], saved.archive)).json()) as ImportAnswer;
    expect(second.digest).toBe(first.digest);
  });
});

describe('importing an OCI layout', () => {
  test('stores the manifest byte for byte under its digest', async () => {
    const image = ociImage(2);
    const archive = await ociLayout(image.manifest, [image.manifest, image.config, ...image.layers], 'v9');

    const res = await postImport(keel.url, [['repository', 'imp/oci'], ['tag', 'v1']], archive);
    expect(res.status).toBe(201);
    const answer = (await res.json()) as ImportAnswer;
    expect(answer).toMatchObject({ format: 'oci-layout', digest: image.manifest.digest, tags: ['v1'], manifests: [image.manifest.digest] });
    expect(answer.blobs).toEqual({ count: 3, bytes: image.config.size + image.layers[0]!.size + image.layers[1]!.size });
    const { bytes } = await manifestOf('imp/oci', 'v1');
    expect(bytes.equals(image.manifest.bytes)).toBe(true);
    expect((await blobOf('imp/oci', image.layers[1]!.digest)).equals(image.layers[1]!.bytes)).toBe(true);
  });

  test('without a tag field the ref.name annotation names the tag', async () => {
    const image = ociImage(1);
    const res = await postImport(keel.url, [['repository', 'imp/named']], await ociLayout(image.manifest, [image.manifest, image.config, ...image.layers], '2.1'));
    expect(res.status).toBe(201);
    expect(await tagsOf('imp/named')).toEqual(['2.1']);
  });

  test('an index brings all its children', async () => {
    const amd = ociImage(1);
    const arm = ociImage(1, { architecture: 'arm64', os: 'linux' });
    const { index, all } = twoPlatformIndex(amd, arm);
    const res = await postImport(keel.url, [['repository', 'imp/multi'], ['tag', 'v1']], await ociLayout(index, all));
    expect(res.status).toBe(201);
    const answer = (await res.json()) as ImportAnswer;
    expect(answer.digest).toBe(index.digest);
    expect(answer.manifests.sort()).toEqual([index.digest, amd.manifest.digest, arm.manifest.digest].sort());
    expect(answer.blobs.count).toBe(4);
    expect((await manifestOf('imp/multi', 'v1')).bytes.equals(index.bytes)).toBe(true);
    expect((await manifestOf('imp/multi', arm.manifest.digest)).bytes.equals(arm.manifest.bytes)).toBe(true);
  });
});

describe('bad archives get a 4xx and leave no tag', () => {
  async function expectRefused(res: Response, status: number, code: string, repo: string): Promise<void> {
    expect(res.status).toBe(status);
    expect(await errorCode(res)).toBe(code);
    expect(await tagsOf(repo)).toEqual([]);
    expect(await uploadSessions()).toEqual([]);
  }

  test('a blob that does not match its name is DIGEST_INVALID', async () => {
    const image = ociImage(2);
    const forged = { ...image.layers[1]!, bytes: Buffer.from(image.layers[1]!.bytes).fill(7, 100, 200) };
    const archive = await ociLayout(image.manifest, [image.manifest, image.config, image.layers[0]!, forged]);
    await expectRefused(await postImport(keel.url, [['repository', 'bad/forged'], ['tag', 'v1']], archive), 400, 'DIGEST_INVALID', 'bad/forged');
  });

  test('a layer that does not match its diff_id is DIGEST_INVALID', async () => {
    const layers = [await randomLayer()];
    const saved = await dockerSave({ layers, config: Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha256('other')] } })) });
    await expectRefused(await postImport(keel.url, [['repository', 'bad/diffid'], ['tag', 'v1']], saved.archive), 400, 'DIGEST_INVALID', 'bad/diffid');
  });

  test('a layer missing from the archive is MANIFEST_BLOB_UNKNOWN', async () => {
    const image = ociImage(2);
    const archive = await ociLayout(image.manifest, [image.manifest, image.config, image.layers[0]!]);
    await expectRefused(await postImport(keel.url, [['repository', 'bad/missing'], ['tag', 'v1']], archive), 400, 'MANIFEST_BLOB_UNKNOWN', 'bad/missing');
  });

  test('bytes that are not a tar, a truncated tar, and a tar of something else', async () => {
    await expectRefused(await postImport(keel.url, [['repository', 'bad/junk'], ['tag', 'v1']], Buffer.from('x'.repeat(3000))), 400, 'BLOB_UPLOAD_INVALID', 'bad/junk');
    const saved = await dockerSave({ layers: [await randomLayer(20_000)] });
    const truncated = saved.archive.subarray(0, 15_000);
    await expectRefused(await postImport(keel.url, [['repository', 'bad/cut'], ['tag', 'v1']], truncated), 400, 'BLOB_UPLOAD_INVALID', 'bad/cut');
    const other = await tarOf([{ name: 'README', data: Buffer.from('hello') }]);
    await expectRefused(await postImport(keel.url, [['repository', 'bad/other'], ['tag', 'v1']], other), 400, 'MANIFEST_INVALID', 'bad/other');
    await expectRefused(await postImport(keel.url, [['repository', 'bad/empty'], ['tag', 'v1']], Buffer.alloc(0)), 400, 'MANIFEST_INVALID', 'bad/empty');
  });

  test('a failed import leaves the existing tag where it was', async () => {
    const good = await dockerSave({ layers: [await randomLayer()] });
    const first = (await (await postImport(keel.url, [['repository', 'bad/keep'], ['tag', 'v1']], good.archive)).json()) as ImportAnswer;
    const image = ociImage(1);
    const broken = await ociLayout(image.manifest, [image.manifest, image.layers[0]!]);
    const res = await postImport(keel.url, [['repository', 'bad/keep'], ['tag', 'v1']], broken);
    expect(res.status).toBe(400);
    expect((await manifestOf('bad/keep', 'v1')).digest).toBe(first.digest);
  });

  test('form mistakes', async () => {
    const saved = await dockerSave({ layers: [await randomLayer()] });
    const noRepo = await postImport(keel.url, [['tag', 'v1']], saved.archive);
    expect(noRepo.status).toBe(400);
    expect(await errorCode(noRepo)).toBe('NAME_INVALID');
    const badName = await postImport(keel.url, [['repository', 'Bad Name'], ['tag', 'v1']], saved.archive);
    expect(await errorCode(badName)).toBe('NAME_INVALID');
    const badTag = await postImport(keel.url, [['repository', 'form/x'], ['tag', '-nope']], saved.archive);
    expect(await errorCode(badTag)).toBe('MANIFEST_INVALID');
    const noArchive = await postImport(keel.url, [['repository', 'form/x'], ['tag', 'v1']], undefined);
    expect(noArchive.status).toBe(400);
    const proxied = await postImport(keel.url, [['repository', 'proxy/registry-1.docker.io/library/x'], ['tag', 'v1']], saved.archive);
    expect(proxied.status).toBe(403);
    expect(await errorCode(proxied)).toBe('DENIED');
    const json = await fetch(`${keel.url}/api/v1/import`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(415);
    const get = await fetch(`${keel.url}/api/v1/import`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  test('a refused form of up to 256 KiB is read to its end: the answer keeps the connection, the next request reuses it', async () => {
    const boundary = 'keel-small-refused';
    const body = Buffer.concat([
      Buffer.from([`--${boundary}`, 'Content-Disposition: form-data; name="tag"', '', 'v1', `--${boundary}`, 'Content-Disposition: form-data; name="archive"; filename="a.tar"', '', ''].join('\r\n')),
      // Larger than one socket read: the refusal comes while most of the body is still unread.
      Buffer.alloc(200 << 10, 1),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const send = (method: string, path: string, payload?: Buffer): Promise<{ status: number; connection: string | undefined; reused: boolean; text: string }> =>
        new Promise((resolve, reject) => {
          const headers = payload ? { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(payload.length) } : {};
          const req = request(`${keel.url}${path}`, { method, agent, headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, reused: req.reusedSocket, text: Buffer.concat(chunks).toString() }));
          });
          req.on('error', reject);
          req.end(payload);
        });
      const refused = await send('POST', '/api/v1/import', body);
      expect(refused.status).toBe(400);
      expect(JSON.parse(refused.text)).toMatchObject({ errors: [{ code: 'NAME_INVALID' }] });
      expect(refused.connection).toBe('keep-alive');
      const next = await send('GET', '/v2/');
      expect(next).toMatchObject({ status: 200, reused: true });
    } finally {
      agent.destroy();
    }
  });

  test('a client that goes away mid-upload leaves no upload session behind', async () => {
    const saved = await dockerSave({ layers: [await randomLayer(4 << 20)] });
    const boundary = 'keel-abort-test';
    const head = Buffer.from(
      [
        `--${boundary}`,
        'Content-Disposition: form-data; name="repository"',
        '',
        'bad/gone',
        `--${boundary}`,
        'Content-Disposition: form-data; name="archive"; filename="a.tar"',
        'Content-Type: application/octet-stream',
        '',
        '',
      ].join('\r\n'),
    );
    const req = request(`${keel.url}/api/v1/import`, { method: 'POST', headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } });
    req.on('error', () => undefined);
    req.write(head);
    req.write(saved.archive.subarray(0, 2 << 20));
    // Wait until the server has opened an upload session for the layer, then hang up.
    for (let i = 0; i < 100 && (await uploadSessions()).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await uploadSessions()).length).toBe(1);
    req.destroy();
    for (let i = 0; i < 100 && (await uploadSessions()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await uploadSessions()).toEqual([]);
    expect(await tagsOf('bad/gone')).toEqual([]);
  });

  test('a repository field after the archive is refused', async () => {
    const saved = await dockerSave({ layers: [await randomLayer()] });
    const form = new FormData();
    form.append('archive', new Blob([fetchBody(saved.archive)]), 'a.tar');
    form.append('repository', 'form/late');
    const res = await fetch(`${keel.url}/api/v1/import`, { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('NAME_INVALID');
  });
});

describe('export', () => {
  test('an OCI layout with ref.name, a docker manifest.json, and every blob; Content-Length is exact', async () => {
    const pushed = await client.pushImage('exp/app', 'v1', { layers: 2, layerSize: 10_000 });
    const { res, files, bytes } = await exportTar('exp/app:v1');
    expect(res.headers.get('content-type')).toBe('application/x-tar');
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="exp_app_v1.tar"');
    expect(res.headers.get('docker-content-digest')).toBe(pushed.digest);

    expect(JSON.parse(files.get('oci-layout')!.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(files.get('index.json')!.toString()) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]!.digest).toBe(pushed.digest);
    expect(index.manifests[0]!.annotations['org.opencontainers.image.ref.name']).toBe('v1');
    const [config, ...layers] = pushed.blobs;
    expect(JSON.parse(files.get('manifest.json')!.toString())).toEqual([
      { Config: `blobs/sha256/${hexOf(config!.digest)}`, RepoTags: ['exp/app:v1'], Layers: layers.map((l) => `blobs/sha256/${hexOf(l.digest)}`) },
    ]);
    for (const d of [pushed.digest, ...pushed.blobs.map((b) => b.digest)]) {
      const content = files.get(`blobs/sha256/${hexOf(d)}`);
      expect(content && sha256(content)).toBe(d);
    }
    expect(files.size).toBe(3 + 1 + pushed.blobs.length);

    const head = await fetch(`${keel.url}/api/v1/export/exp/app:v1`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    // The same image always exports to the same bytes.
    expect((await exportTar('exp/app:v1')).bytes.equals(bytes)).toBe(true);
  });

  test('an index exports with its children; manifest.json names the requested platform', async () => {
    const amd = ociImage(1);
    const arm = ociImage(2, { architecture: 'arm64', os: 'linux' });
    const { index, all } = twoPlatformIndex(amd, arm);
    expect((await postImport(keel.url, [['repository', 'exp/multi'], ['tag', 'v1']], await ociLayout(index, all))).status).toBe(201);

    const { files } = await exportTar('exp/multi:v1?platform=linux/arm64');
    for (const b of all) expect(files.get(`blobs/sha256/${hexOf(b.digest)}`)?.equals(b.bytes)).toBe(true);
    const docker = JSON.parse(files.get('manifest.json')!.toString()) as { Config: string; Layers: string[] }[];
    expect(docker[0]!.Config).toBe(`blobs/sha256/${hexOf(arm.config.digest)}`);
    expect(docker[0]!.Layers).toHaveLength(2);
    const byDefault = JSON.parse((await exportTar('exp/multi:v1')).files.get('manifest.json')!.toString()) as { Config: string }[];
    expect(byDefault[0]!.Config).toBe(`blobs/sha256/${hexOf(amd.config.digest)}`);
  });

  test('an export imports again with the same digests', async () => {
    const pushed = await client.pushImage('exp/trip', 'v1', { layers: 3 });
    const { bytes } = await exportTar('exp/trip:v1');
    const res = await postImport(keel.url, [['repository', 'exp/trip-back'], ['tag', 'v2']], bytes);
    expect(res.status).toBe(201);
    const answer = (await res.json()) as ImportAnswer;
    expect(answer.format).toBe('oci-layout');
    expect(answer.digest).toBe(pushed.digest);
  });

  test('by digest; unknown names, tags and proxy names are 4xx before any byte is sent', async () => {
    const pushed = await client.pushImage('exp/bydigest', 'v1');
    const { files } = await exportTar(`exp/bydigest@${pushed.digest}`);
    expect(JSON.parse(files.get('manifest.json')!.toString())[0].RepoTags).toEqual([]);

    const unknown = await fetch(`${keel.url}/api/v1/export/exp/bydigest:nope`);
    expect(unknown.status).toBe(404);
    expect(await errorCode(unknown)).toBe('MANIFEST_UNKNOWN');
    expect((await fetch(`${keel.url}/api/v1/export/Not_A_Name:v1`)).status).toBe(400);
    expect((await fetch(`${keel.url}/api/v1/export/proxy/docker.io/library/x:v1`)).status).toBe(400);
    expect((await fetch(`${keel.url}/api/v1/export/exp/bydigest:v1`, { method: 'DELETE' })).status).toBe(405);
  });

  test('a client that goes away mid-export does not break the server', async () => {
    await client.pushImage('exp/big', 'v1', { layers: 1, layerSize: 32 << 20 });
    await new Promise<void>((resolve, reject) => {
      const req = request(`${keel.url}/api/v1/export/exp/big:v1`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (err.message.includes('socket hang up') || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(err)));
      req.end();
    });
    expect((await fetch(`${keel.url}/api/v1/export/exp/big:v1`, { method: 'HEAD' })).status).toBe(200);
  });
});

describe('with auth on', () => {
  let secured: KeelProcess;
  const basic = (user: string, password: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

  async function token(scope: string, user?: [string, string]): Promise<string> {
    const res = await fetch(`${secured.url}/token?service=keel&scope=${encodeURIComponent(scope)}`, { headers: user ? basic(...user) : {} });
    return ((await res.json()) as { token: string }).token;
  }

  beforeAll(async () => {
    const root = await rootWithUsers('keel-archive-auth', { writer: 'w-pass', reader: 'r-pass' });
    secured = await startKeel({
      root,
      toml: `
[auth]
htpasswd = "htpasswd"

[[auth.access]]
repository = "**"
users = ["writer"]
actions = ["pull", "push", "delete"]

[[auth.access]]
repository = "team/**"
users = ["reader"]
actions = ["pull"]

[[auth.access]]
repository = "public/**"
users = ["anonymous"]
actions = ["pull"]
`,
    });
  });
  afterAll(() => secured.destroy());

  test('import: none or wrong credentials are 401, a reader is DENIED, the writer imports (Basic or token)', async () => {
    const saved = await dockerSave({ layers: [await randomLayer()] });
    const fields: [string, string][] = [['repository', 'team/app'], ['tag', 'v1']];

    const none = await postImport(secured.url, fields, saved.archive);
    expect(none.status).toBe(401);
    expect(await errorCode(none)).toBe('UNAUTHORIZED');
    expect(none.headers.get('www-authenticate')).toBe(`Bearer realm="${secured.url}/token",service="keel"`);

    const wrong = await postImport(secured.url, fields, saved.archive, basic('writer', 'nope'));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="keel"');

    const reader = await postImport(secured.url, fields, saved.archive, basic('reader', 'r-pass'));
    expect(reader.status).toBe(403);
    expect(await errorCode(reader)).toBe('DENIED');

    const pullOnly = await postImport(secured.url, fields, saved.archive, { Authorization: `Bearer ${await token('repository:team/app:pull', ['writer', 'w-pass'])}` });
    expect(pullOnly.status).toBe(401);
    expect(pullOnly.headers.get('www-authenticate')).toContain('scope="repository:team/app:pull,push",error="insufficient_scope"');

    expect((await postImport(secured.url, fields, saved.archive, basic('writer', 'w-pass'))).status).toBe(201);
    const bearer = { Authorization: `Bearer ${await token('repository:team/app:pull,push', ['writer', 'w-pass'])}` };
    expect((await postImport(secured.url, [['repository', 'team/app'], ['tag', 'v2']], saved.archive, bearer)).status).toBe(201);
  });

  test('export needs pull: Basic, a token, an anonymous token where anonymous may pull', async () => {
    const saved = await dockerSave({ layers: [await randomLayer()] });
    expect((await postImport(secured.url, [['repository', 'public/base'], ['tag', 'v1']], saved.archive, basic('writer', 'w-pass'))).status).toBe(201);

    const none = await fetch(`${secured.url}/api/v1/export/team/app:v1`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe(`Bearer realm="${secured.url}/token",service="keel",scope="repository:team/app:pull"`);
    expect((await fetch(`${secured.url}/api/v1/export/team/app:v1`, { headers: basic('reader', 'r-pass') })).status).toBe(200);
    expect((await fetch(`${secured.url}/api/v1/export/public/base:v1`, { headers: basic('reader', 'r-pass') })).status).toBe(200);
    const readerToken = await token('repository:team/app:pull', ['reader', 'r-pass']);
    expect((await fetch(`${secured.url}/api/v1/export/team/app:v1`, { headers: { Authorization: `Bearer ${readerToken}` } })).status).toBe(200);

    const anonymous = await token('repository:public/base:pull');
    expect((await fetch(`${secured.url}/api/v1/export/public/base:v1`, { headers: { Authorization: `Bearer ${anonymous}` } })).status).toBe(200);
    const anonymousTeam = await fetch(`${secured.url}/api/v1/export/team/app:v1`, { headers: { Authorization: `Bearer ${await token('repository:team/app:pull')}` } });
    expect(anonymousTeam.status).toBe(401);
    expect((await fetch(`${secured.url}/api/v1/export/team/app:v1`, { headers: { Authorization: 'Bearer not-a-token' } })).status).toBe(401);
  });
});
