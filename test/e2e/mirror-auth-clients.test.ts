// Mirror mode with auth on, with a real Docker daemon: `registry-mirrors` pulls plain names
// (`library/alpha`) without signing in, so it only works if anonymous may pull what the
// mirror serves. Keel runs with the access rules of deploy/examples/production.toml, as
// shipped (read from that file), and `[mirror] upstream` naming a CNCF Distribution 2.8 on
// loopback that stands in for Docker Hub. The daemon cannot reach the internet (no network
// but loopback): an image that arrives came through Keel, and the upstream's access log and
// Keel's request log show the way it came. A local private repository stays unreadable to
// anonymous, even though the upstream has a decoy of the same name.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { Cleanup } from '../support/e2e/cleanup.js';
import type { Credentials } from '../support/e2e/credentials.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { startDockerd, type Dockerd } from '../support/e2e/dockerd.js';
import { OciLayout, type BuiltImage } from '../support/e2e/images.js';
import { createSkopeo, type Skopeo } from '../support/e2e/skopeo.js';
import { makeTempDir } from '../support/e2e/temp-dir.js';
import { ensureTools, TOOL_INSTALL_TIMEOUT_MS } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { errorCode, OCI_MANIFEST } from '../support/oci-client.js';
import { htpasswdLines } from '../support/htpasswd.js';

const TAG = 'v1';
/** Only the upstream has it. */
const ALPHA = 'library/alpha';
/** Pushed to Keel by alice (group platform); the upstream holds a decoy of the same name. */
const SECRET = 'library/secret';
const ALICE: Credentials = { username: 'alice', password: 'alice-pass' };

interface RequestLine {
  msg: string;
  method?: string;
  path?: string;
  status?: number;
  user?: string;
}

const cleanup = new Cleanup();
const keelLog: RequestLine[] = [];
let hub: Distribution;
let keel: KeelProcess;
let skopeo: Skopeo;
let dockerd: Dockerd;
let images: Record<'alpha' | 'secret' | 'secretDecoy', BuiltImage>;
let seededLogSize: number;

/** The `[auth.groups]` and `[[auth.access]]` of deploy/examples/production.toml, as TOML. */
function shippedRules(): string {
  const { auth } = loadConfig({ file: 'deploy/examples/production.toml', env: { DOCKER_HUB_USERNAME: 'u', DOCKER_HUB_PASSWORD: 'p' } });
  const groups = Object.entries(auth.groups).map(([name, members]) => `${JSON.stringify(name)} = ${JSON.stringify(members)}`);
  const rules = auth.access.map((r) => ['[[auth.access]]', `repository = ${JSON.stringify(r.repository)}`, `users = ${JSON.stringify(r.users)}`, `actions = ${JSON.stringify(r.actions)}`].join('\n'));
  expect(rules.length).toBeGreaterThan(0);
  return ['[auth.groups]', ...groups, '', ...rules].join('\n');
}

/** Paths (with query) of the requests Keel made to the upstream since seeding. */
async function upstreamPaths(): Promise<string[]> {
  const log = (await readFile(hub.process.logFile)).subarray(seededLogSize).toString('utf8');
  return [...log.matchAll(/"(?:GET|HEAD) (\S+) HTTP\/[\d.]+"/g)].map((m) => m[1] as string);
}

async function anonymousToken(repo: string): Promise<string> {
  const res = await fetch(`${keel.url}/token?service=keel&scope=${encodeURIComponent(`repository:${repo}:pull`)}`);
  return ((await res.json()) as { token: string }).token;
}

beforeAll(async () => {
  await ensureTools(['dockerd', 'docker', 'containerd', 'runc', 'skopeo', 'docker-registry']);
  hub = cleanup.add('distribution (hub)', await startDistribution(), (d) => d.stop());
  skopeo = cleanup.add('skopeo', await createSkopeo(), (s) => s.remove());
  const layout = cleanup.add('oci layout', await OciLayout.create(), (l) => l.remove());
  // One after the other: every tag rewrites the layout's index.json.
  const alpha = await layout.addImage({ layers: 2, layerSize: 16 * 1024, tag: 'alpha', labels: { name: 'alpha' } });
  const secret = await layout.addImage({ layers: 2, layerSize: 16 * 1024, tag: 'secret', labels: { name: 'secret' } });
  const secretDecoy = await layout.addImage({ layers: 2, layerSize: 16 * 1024, tag: 'secretDecoy', labels: { name: 'secretDecoy' } });
  images = { alpha, secret, secretDecoy };
  await skopeo.copy(layout.ref('alpha'), `docker://${hub.host}/${ALPHA}:${TAG}`, { preserveDigests: true });
  await skopeo.copy(layout.ref('secretDecoy'), `docker://${hub.host}/${SECRET}:${TAG}`, { preserveDigests: true });
  seededLogSize = (await readFile(hub.process.logFile)).length;

  const root = cleanup.add('keel root', await makeTempDir('keel-mirror-auth-docker'), (d) => d.remove()).path;
  await writeFile(join(root, 'htpasswd'), await htpasswdLines({ [ALICE.username]: ALICE.password }));
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) keelLog.push(JSON.parse(line) as RequestLine);
      done();
    },
  });
  keel = cleanup.add(
    'keel',
    await startKeel({
      root,
      logger: pino({ level: 'info' }, sink),
      toml: `
[auth]
htpasswd = "htpasswd"

${shippedRules()}

[proxy.upstreams.hub]
url = "${hub.url}"
allow_private = true
timeout = "10s"

[mirror]
upstream = "hub"
`,
    }),
    (k) => k.stop(),
  );
  await skopeo.copy(layout.ref('secret'), `docker://${keel.host}/${SECRET}:${TAG}`, { preserveDigests: true, destCredentials: ALICE });
  dockerd = cleanup.add('dockerd', await startDockerd({ insecureRegistries: [keel.host], registryMirrors: [`http://${keel.host}`] }), (d) => d.stop());
}, TOOL_INSTALL_TIMEOUT_MS + 120_000);

afterAll(async () => {
  await cleanup.run();
}, 90_000);

test('the shipped rules raise no mirror-mode warning at start-up', () => {
  expect(keelLog.filter((e) => e.msg.includes('registry-mirrors'))).toEqual([]);
});

test('docker with registry-mirrors = Keel (auth on, shipped rules) pulls an image only the upstream has, anonymously, through Keel', async () => {
  const { alpha } = images;
  await dockerd.docker(['pull', `alpha:${TAG}`]);

  const pulled = await dockerd.inspectImage(`alpha:${TAG}`);
  expect(pulled.Id).toBe(alpha.config.digest);
  expect(pulled.RepoDigests).toContain(`alpha@${alpha.manifest.digest}`);
  expect(pulled.RootFS.Layers).toEqual(alpha.layers.map((l) => l.diffId));
  // Every blob left the upstream once, asked for by Keel.
  const blobs = (await upstreamPaths()).filter((p) => p.startsWith(`/v2/${ALPHA}/blobs/`)).map((p) => p.split('/').pop());
  expect(blobs.sort()).toEqual([alpha.config.digest, ...alpha.layers.map((l) => l.descriptor.digest)].sort());
  // Keel answered the daemon's reads of library/alpha without anyone signed in.
  const served = keelLog.filter((e) => e.msg === 'request' && e.method === 'GET' && e.path?.startsWith(`/v2/${ALPHA}/`));
  expect(served.length).toBeGreaterThanOrEqual(1 + alpha.layers.length);
  expect(served.filter((e) => e.status !== 200 || e.user !== undefined)).toEqual([]);
});

test('a local private repository is not readable anonymously, and docker does not get the upstream decoy of its name from Keel', async () => {
  const { secret } = images;
  const headers = { Authorization: `Bearer ${await anonymousToken(SECRET)}`, Accept: OCI_MANIFEST };
  for (const path of [`/v2/${SECRET}/manifests/${TAG}`, `/v2/${SECRET}/manifests/${secret.manifest.digest}`, `/v2/${SECRET}/blobs/${secret.config.digest}`, `/v2/${SECRET}/tags/list`]) {
    const res = await fetch(`${keel.url}${path}`, { headers });
    expect([path, res.status, await errorCode(res)]).toEqual([path, 401, 'UNAUTHORIZED']);
  }

  // The daemon is refused by Keel, falls back to Docker Hub, which it cannot reach.
  const before = keelLog.length;
  const pulled = await dockerd.docker(['pull', `secret:${TAG}`], { allowFailure: true });
  expect(pulled.code).not.toBe(0);
  const listed = await dockerd.docker(['image', 'ls', '--quiet', 'secret']);
  expect(listed.stdout.toString('utf8').trim()).toBe('');
  const refused = keelLog.slice(before).filter((e) => e.msg === 'request' && e.path?.startsWith(`/v2/${SECRET}/`));
  expect(refused.length).toBeGreaterThan(0);
  expect(refused.filter((e) => e.status !== 401)).toEqual([]);
  // Nothing of the decoy was asked for.
  expect((await upstreamPaths()).filter((p) => p.startsWith(`/v2/${SECRET}/`))).toEqual([]);
});
