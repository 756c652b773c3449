// Keel with token auth on, driven by real clients: docker (login, push, pull), podman and
// skopeo with --creds, ctr with --user, and anonymous skopeo/podman. Users come from an
// htpasswd file written with `htpasswd -B`:
//   writer   pull, push and delete everything (through the group "writers")
//   reader   pull on team/** only
//   anonymous pull on public/** only
// Every image that goes in with preserved digests comes back out bit-identical; images that
// docker or podman push (they may recompress layers) come back with the same manifest
// digest, config and diff_ids. The last tests speak HTTP directly: the 401 challenge, the
// 403 a pull-only token gets for a push, a token past its lifetime (a second Keel on a
// ManualClock with token_ttl = "1s") and tokens signed by another key.
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { decodeJwt, decodeProtectedHeader, SignJWT, type JWTPayload } from 'jose';
import { Cleanup } from '../support/e2e/cleanup.js';
import { startContainerd, type Containerd } from '../support/e2e/containerd.js';
import { credsArg, type Credentials } from '../support/e2e/credentials.js';
import { startDockerd, type Dockerd } from '../support/e2e/dockerd.js';
import { OciLayout, sha256, toDockerArchive, type BuiltImage } from '../support/e2e/images.js';
import { expectSameBlobs, taggedDigest } from '../support/e2e/pulled-layout.js';
import { createPodman, type Podman } from '../support/e2e/podman.js';
import { run, type RunResult } from '../support/e2e/run.js';
import { createSkopeo, type Skopeo } from '../support/e2e/skopeo.js';
import { makeTempDir } from '../support/e2e/temp-dir.js';
import { ensureTools, TOOL_INSTALL_TIMEOUT_MS, toolPath } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';

const LAYER_SIZE = 96 * 1024;
const WRITER: Credentials = { username: 'writer', password: 'writer pass 1' };
const READER: Credentials = { username: 'reader', password: 'reader pass 2' };

/** Pushed by skopeo (as writer) with preserved digests; pulled by reader with every client. */
const TEAM_APP = 'team/app';
/** Pushed by skopeo (as writer); pulled anonymously. */
const PUBLIC_APP = 'public/app';
/** Pushed by docker as writer. */
const TEAM_DOCKER = 'team/docker';
/** Pushed by podman as writer. */
const TEAM_PODMAN = 'team/podman';
/** reader tries to push here and must be refused. */
const TEAM_DENIED = 'team/denied';
const TAG = 'v1';

function accessToml(htpasswd: string, extra: string[] = []): string {
  return [
    '[auth]',
    `htpasswd = ${JSON.stringify(htpasswd)}`,
    ...extra,
    '',
    '[auth.groups]',
    'writers = ["writer"]',
    '',
    '[[auth.access]]',
    'repository = "**"',
    'users = ["group:writers"]',
    'actions = ["pull", "push", "delete"]',
    '',
    '[[auth.access]]',
    'repository = "team/**"',
    'users = ["reader"]',
    'actions = ["pull"]',
    '',
    '[[auth.access]]',
    'repository = "public/**"',
    'users = ["anonymous"]',
    'actions = ["pull"]',
    '',
  ].join('\n');
}

interface ManifestJson {
  config: { digest: string };
  layers: { digest: string; size: number }[];
}

interface ErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

const cleanup = new Cleanup();
let keel: KeelProcess;
let skopeo: Skopeo;
let podman: Podman;
let containerd: Containerd;
let dockerd: Dockerd;
let layout: OciLayout;
let scratch: string;
let htpasswdFile: string;
let teamApp: BuiltImage;
let publicApp: BuiltImage;
let archived: BuiltImage;

const ref = (repo: string, tagOrDigest = TAG): string =>
  `${keel.host}/${repo}${tagOrDigest.startsWith('sha256:') ? '@' : ':'}${tagOrDigest}`;
const diffIds = (i: BuiltImage): string[] => i.layers.map((l) => l.diffId);
const blobsOf = (i: BuiltImage): string[] => [i.config.digest, ...i.layers.map((l) => l.descriptor.digest)];
const outputOf = (r: RunResult): string => `${r.stderr}\n${r.stdout.toString('utf8')}`;

function basic(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** GET /token on `base` for `scopes`, as `creds` or anonymously. */
async function fetchToken(base: string, scopes: string[], creds?: Credentials): Promise<string> {
  const query = new URLSearchParams({ service: 'keel' });
  for (const s of scopes) query.append('scope', s);
  const res = await fetch(`${base}/token?${query.toString()}`, { headers: creds ? { authorization: basic(creds) } : {} });
  if (res.status !== 200) throw new Error(`GET /token ${query.toString()}: HTTP ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { token: string };
  return body.token;
}

async function withToken(url: string, token: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${token}` } });
}

/** skopeo copy docker://… into a fresh OCI layout in the scratch dir; returns the layout dir. */
async function skopeoPull(from: string, label: string, credentials?: Credentials): Promise<string> {
  const dir = join(scratch, label);
  await skopeo.copy(`docker://${from}`, `oci:${dir}:${TAG}`, { preserveDigests: true, srcCredentials: credentials });
  return dir;
}


async function htpasswdLine(c: Credentials): Promise<string> {
  return (await run(toolPath('htpasswd'), ['-Bbn', c.username, c.password])).stdout.toString('utf8').trim();
}

beforeAll(async () => {
  await ensureTools(['dockerd', 'docker', 'containerd', 'ctr', 'runc', 'podman', 'skopeo', 'htpasswd']);
  scratch = cleanup.add('scratch', await makeTempDir('auth'), (d) => d.remove()).path;
  htpasswdFile = join(scratch, 'htpasswd');
  await writeFile(htpasswdFile, `${await htpasswdLine(WRITER)}\n${await htpasswdLine(READER)}\n`);
  keel = cleanup.add('keel', await startKeel({ toml: accessToml(htpasswdFile) }), (k) => k.destroy());

  skopeo = cleanup.add('skopeo', await createSkopeo(), (s) => s.remove());
  podman = cleanup.add('podman', await createPodman(), (p) => p.remove());
  layout = cleanup.add('oci layout', await OciLayout.create(), (l) => l.remove());
  // One after the other: every tag rewrites the layout's index.json.
  teamApp = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, tag: 'team' });
  publicApp = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, tag: 'public' });
  archived = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, tag: 'archived' });
  const archive = join(scratch, 'archived.tar');

  const [ctrd, dockd] = await Promise.all([
    startContainerd().then((c) => cleanup.add('containerd', c, (x) => x.stop())),
    startDockerd({ insecureRegistries: [keel.host] }).then((d) => cleanup.add('dockerd', d, (x) => x.stop())),
    // Seeding as writer with skopeo --dest-creds: also the "skopeo with credentials" push.
    skopeo.copy(layout.ref('team'), `docker://${ref(TEAM_APP)}`, { preserveDigests: true, destCredentials: WRITER }),
    skopeo.copy(layout.ref('public'), `docker://${ref(PUBLIC_APP)}`, { preserveDigests: true, destCredentials: WRITER }),
    toDockerArchive(skopeo, layout, 'archived', archive, 'e2e/archived:v1'),
  ]);
  [containerd, dockerd] = [ctrd, dockd];
  await dockerd.load(archive);
}, TOOL_INSTALL_TIMEOUT_MS + 120_000);

afterAll(async () => {
  await cleanup.run();
}, 120_000);

test('without a token, /v2 answers 401 with a Bearer challenge naming this server\'s /token', async () => {
  const res = await fetch(`${keel.url}/v2/${TEAM_APP}/manifests/${TAG}`);
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="http://${keel.host}/token",service="keel",scope="repository:${TEAM_APP}:pull"`);
  const body = (await res.json()) as ErrorBody;
  expect(body.errors[0]?.code).toBe('UNAUTHORIZED');

  const push = await fetch(`${keel.url}/v2/${TEAM_APP}/blobs/uploads/`, { method: 'POST' });
  expect(push.status).toBe(401);
  expect(push.headers.get('www-authenticate')).toBe(`Bearer realm="http://${keel.host}/token",service="keel",scope="repository:${TEAM_APP}:pull,push"`);

  const wrong = await fetch(`${keel.url}/token?service=keel&scope=repository:${TEAM_APP}:pull`, {
    headers: { authorization: basic({ username: WRITER.username, password: 'not the password' }) },
  });
  expect(wrong.status).toBe(401);
});

describe('docker', () => {
  test('writer: docker login, docker push, docker pull, digests identical', async () => {
    await dockerd.login(keel.host, WRITER);
    await dockerd.docker(['tag', 'e2e/archived:v1', ref(TEAM_DOCKER)]);
    const pushed = (await dockerd.docker(['push', ref(TEAM_DOCKER)])).stdout.toString('utf8');

    const manifest = await skopeo.inspectRaw(`docker://${ref(TEAM_DOCKER)}`, { credentials: WRITER });
    const digest = sha256(manifest);
    expect(pushed).toContain(`digest: ${digest} size: ${manifest.length}`);
    const parsed = JSON.parse(manifest.toString('utf8')) as ManifestJson;
    // docker keeps the config bytes (the image ID) but may recompress the layers.
    expect(parsed.config.digest).toBe(archived.config.digest);
    expect(parsed.layers).toHaveLength(archived.layers.length);

    // Forget the image locally, so the pull really downloads every layer from Keel.
    await dockerd.docker(['rmi', '--force', ref(TEAM_DOCKER), 'e2e/archived:v1']);
    await dockerd.docker(['pull', ref(TEAM_DOCKER)]);
    const pulled = await dockerd.inspectImage(ref(TEAM_DOCKER));
    expect(pulled.Id).toBe(archived.config.digest);
    expect(pulled.RepoDigests).toContain(ref(TEAM_DOCKER, digest));
    expect(pulled.RootFS.Layers).toEqual(diffIds(archived));
  });

  test('reader (pull only on team/**): docker push is refused with "denied", docker pull works', async () => {
    await dockerd.docker(['logout', keel.host]);
    await dockerd.login(keel.host, READER);
    await dockerd.docker(['tag', ref(TEAM_DOCKER), ref(TEAM_DENIED)]);
    const refused = await dockerd.docker(['push', ref(TEAM_DENIED)], { allowFailure: true });
    expect(refused.code).not.toBe(0);
    expect(outputOf(refused)).toContain(`denied: requested access to the resource is denied: reader may not push ${TEAM_DENIED}`);
    // Nothing was stored under the refused name.
    const token = await fetchToken(keel.url, [`repository:${TEAM_DENIED}:pull`], WRITER);
    const tags = await withToken(`${keel.url}/v2/${TEAM_DENIED}/tags/list`, token);
    expect(tags.status).toBe(404);

    await dockerd.docker(['rmi', '--force', ref(TEAM_DOCKER), ref(TEAM_DENIED)]);
    await dockerd.docker(['pull', ref(TEAM_APP)]);
    const pulled = await dockerd.inspectImage(ref(TEAM_APP));
    expect(pulled.Id).toBe(teamApp.config.digest);
    expect(pulled.RepoDigests).toContain(ref(TEAM_APP, teamApp.manifest.digest));
    expect(pulled.RootFS.Layers).toEqual(diffIds(teamApp));
    await dockerd.docker(['logout', keel.host]);
  });
});

describe('anonymous clients', () => {
  test('skopeo and podman pull public/** without credentials, bit-identical', async () => {
    const raw = await skopeo.inspectRaw(`docker://${ref(PUBLIC_APP)}`);
    expect(raw.equals(publicApp.manifestBytes)).toBe(true);
    const dir = await skopeoPull(ref(PUBLIC_APP), 'anonymous-public');
    expect(await taggedDigest(dir, TAG)).toBe(publicApp.manifest.digest);
    await expectSameBlobs(dir, layout, [publicApp.manifest.digest, ...blobsOf(publicApp)]);

    await podman.pull(ref(PUBLIC_APP));
    const pulled = await podman.inspectImage(ref(PUBLIC_APP));
    expect(pulled.Digest).toBe(publicApp.manifest.digest);
    expect(`sha256:${pulled.Id}`).toBe(publicApp.config.digest);
    expect(pulled.RootFS.Layers).toEqual(diffIds(publicApp));
  });

  test('skopeo and podman without credentials are refused team/**, and a push to public/**', async () => {
    const inspect = await skopeo.skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref(TEAM_APP)}`], { allowFailure: true });
    expect(inspect.code).not.toBe(0);
    expect(outputOf(inspect)).toContain(`unauthorized: authentication required: anonymous may not pull ${TEAM_APP}`);
    expect(outputOf(inspect)).not.toContain(teamApp.config.digest);

    const pull = await podman.podman(['pull', '--quiet', '--tls-verify=false', ref(TEAM_APP)], { allowFailure: true });
    expect(pull.code).not.toBe(0);
    expect(outputOf(pull)).toContain(`authentication required: anonymous may not pull ${TEAM_APP}`);

    const push = await skopeo.skopeo(
      ['copy', '--quiet', '--dest-tls-verify=false', layout.ref('team'), `docker://${ref('public/anonymous-push')}`],
      { allowFailure: true },
    );
    expect(push.code).not.toBe(0);
    expect(outputOf(push)).toContain("authentication required: anonymous may not push public/anonymous-push");
  });
});

describe('clients with credentials', () => {
  test('skopeo --src-creds (reader) copies what skopeo --dest-creds (writer) pushed, byte for byte', async () => {
    const dir = await skopeoPull(ref(TEAM_APP), 'reader-team', READER);
    expect(await taggedDigest(dir, TAG)).toBe(teamApp.manifest.digest);
    await expectSameBlobs(dir, layout, [teamApp.manifest.digest, ...blobsOf(teamApp)]);
  });

  test('ctr without --user is refused team/**', async () => {
    const refused = await containerd.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', ref(TEAM_APP, teamApp.manifest.digest)], {
      allowFailure: true,
      timeoutMs: 60_000,
    });
    expect(refused.code).not.toBe(0);
    // ctr prints containerd's reading of the 401 Keel answers an anonymous token lacking pull.
    expect(outputOf(refused)).toContain("may require authorization");
  });

  test('ctr images pull --user reader:… pulls and unpacks it byte for byte', async () => {
    await containerd.pull(ref(TEAM_APP), { credentials: READER });

    expect(await containerd.imageDigest(ref(TEAM_APP))).toBe(teamApp.manifest.digest);
    const content = await containerd.contentDigests();
    for (const digest of [teamApp.manifest.digest, ...blobsOf(teamApp)]) expect(content).toContain(digest);
    for (const digest of [teamApp.manifest.digest, ...blobsOf(teamApp)]) {
      const stored = await containerd.readContent(digest);
      expect(stored.equals(await readFile(layout.blobPath(digest)))).toBe(true);
    }
  });

  test('podman --creds: reader pulls, writer pushes, reader pulls the push back', async () => {
    await podman.pull(ref(TEAM_APP), { credentials: READER });
    const pulled = await podman.inspectImage(ref(TEAM_APP));
    expect(pulled.Digest).toBe(teamApp.manifest.digest);
    expect(`sha256:${pulled.Id}`).toBe(teamApp.config.digest);
    expect(pulled.RootFS.Layers).toEqual(diffIds(teamApp));

    await podman.podman(['tag', ref(TEAM_APP), ref(TEAM_PODMAN)]);
    // reader may not push, even with podman.
    const refused = await podman.podman(
      ['push', '--quiet', '--tls-verify=false', '--creds', credsArg(READER), ref(TEAM_PODMAN)],
      { allowFailure: true },
    );
    expect(refused.code).not.toBe(0);
    expect(outputOf(refused)).toContain(`denied: requested access to the resource is denied: reader may not push ${TEAM_PODMAN}`);

    const digestFile = join(scratch, 'podman-pushed.digest');
    await podman.podman(['push', '--quiet', '--tls-verify=false', '--format', 'oci', '--digestfile', digestFile, '--creds', credsArg(WRITER), ref(TEAM_PODMAN)]);
    const pushedDigest = (await readFile(digestFile, 'utf8')).trim();
    const served = await skopeo.inspectRaw(`docker://${ref(TEAM_PODMAN)}`, { credentials: READER });
    expect(sha256(served)).toBe(pushedDigest);
    expect((JSON.parse(served.toString('utf8')) as ManifestJson).config.digest).toBe(teamApp.config.digest);

    await podman.podman(['rmi', '--force', ref(TEAM_PODMAN), ref(TEAM_APP)]);
    await podman.pull(ref(TEAM_PODMAN), { credentials: READER });
    const back = await podman.inspectImage(ref(TEAM_PODMAN));
    expect(back.Digest).toBe(pushedDigest);
    expect(`sha256:${back.Id}`).toBe(teamApp.config.digest);
    expect(back.RootFS.Layers).toEqual(diffIds(teamApp));
  });
});

describe('tokens over HTTP', () => {
  test('a pull-only token gets 403 DENIED for a push; POST /token (grant_type=password) works too', async () => {
    const form = new URLSearchParams({ grant_type: 'password', service: 'keel', client_id: 'e2e', username: READER.username, password: READER.password, scope: `repository:${TEAM_APP}:pull,push` });
    const res = await fetch(`${keel.url}/token`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const token = ((await res.json()) as { access_token: string }).access_token;
    expect(decodeJwt(token)).toMatchObject({ sub: READER.username, access: [{ type: 'repository', name: TEAM_APP, actions: ['pull'] }] });

    expect((await withToken(`${keel.url}/v2/${TEAM_APP}/manifests/${TAG}`, token, { method: 'HEAD' })).status).toBe(200);
    const push = await withToken(`${keel.url}/v2/${TEAM_APP}/blobs/uploads/`, token, { method: 'POST' });
    expect(push.status).toBe(403);
    const body = (await push.json()) as ErrorBody;
    expect(body.errors[0]?.code).toBe('DENIED');
    expect(body.errors[0]?.message).toMatch(/requested access to the resource is denied/);
  });

  test('a token past its lifetime is refused with error="invalid_token"', async () => {
    const clock = new ManualClock();
    const short = cleanup.add(
      'keel (token_ttl 1s)',
      await startKeel({ toml: accessToml(htpasswdFile, ['token_ttl = "1s"']), clock }),
      (k) => k.destroy(),
    );
    const url = `${short.url}/v2/${TEAM_APP}/tags/list`;
    const token = await fetchToken(short.url, [`repository:${TEAM_APP}:pull`], READER);
    // Valid now: past authentication (the repository is empty there, so 404).
    const fresh = await withToken(url, token);
    expect(fresh.status).toBe(404);
    expect(((await fresh.json()) as ErrorBody).errors[0]?.code).toBe('NAME_UNKNOWN');
    expect((await withToken(`${short.url}/v2/`, token)).status).toBe(200);

    clock.advance(2_000);
    for (const target of [url, `${short.url}/v2/`]) {
      const expired = await withToken(target, token);
      expect([target, expired.status]).toEqual([target, 401]);
      expect(expired.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+",service="keel"(,scope="[^"]+")?,error="invalid_token"$/);
      expect(((await expired.json()) as ErrorBody).errors[0]?.code).toBe('UNAUTHORIZED');
    }
    // A new token works again at the new time.
    const renewed = await fetchToken(short.url, [`repository:${TEAM_APP}:pull`], READER);
    expect((await withToken(url, renewed)).status).toBe(404);
  });

  test('a token signed by another key is refused with error="invalid_token"; the same claims signed by Keel\'s key are not', async () => {
    const url = `${keel.url}/v2/${TEAM_APP}/manifests/${TAG}`;
    const real = await fetchToken(keel.url, [`repository:${TEAM_APP}:pull`], READER);
    expect((await withToken(url, real, { method: 'HEAD' })).status).toBe(200);

    const header = decodeProtectedHeader(real);
    const claims: JWTPayload = decodeJwt(real);
    const resign = (key: Parameters<SignJWT['sign']>[0]): Promise<string> =>
      new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: header.typ ?? 'JWT' }).sign(key);

    // Control: the re-signing itself is sound, Keel's own key makes an accepted token.
    const ownKey = createPrivateKey(await readFile(keel.config.auth.signing_key, 'utf8'));
    expect((await withToken(url, await resign(ownKey), { method: 'HEAD' })).status).toBe(200);

    const { privateKey: rogue } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = await resign(rogue);
    expect(decodeJwt(forged)).toEqual(claims);
    const refused = await withToken(url, forged);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe(
      `Bearer realm="http://${keel.host}/token",service="keel",scope="repository:${TEAM_APP}:pull",error="invalid_token"`,
    );
    expect(((await refused.json()) as ErrorBody).errors[0]?.code).toBe('UNAUTHORIZED');

    // Another Keel (its own generated key, same users and rules) refuses this one's tokens.
    const other = cleanup.add('keel (other key)', await startKeel({ toml: accessToml(htpasswdFile) }), (k) => k.destroy());
    const elsewhere = await withToken(`${other.url}/v2/${TEAM_APP}/tags/list`, real);
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});
