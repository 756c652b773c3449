// Mirror mode with real clients: ordinary names (`library/alpha`, not `proxy/<upstream>/...`)
// that Keel lacks locally are served through the proxy of an upstream, the way a Docker
// daemon's `registry-mirrors` and containerd's hosts.toml mirrors ask for them.
//
// Two upstreams, CNCF Distribution 2.8 on loopback, stand in for Docker Hub and quay.io:
//   hubmirror   library/alpha (docker), library/gamma (ctr), plus decoys: library/localonly
//               and keelorg/beta with other content than Keel's local image and quaymirror's
//   quaymirror  keelorg/beta (ctr)
// Keel: `[mirror] upstream = "hubmirror"` (Docker sends no `ns`) and aliases
// `docker.io` → hubmirror, `quay.io` → quaymirror for containerd's `?ns=<registry host>`.
// Neither the daemon nor ctr can reach the real registries (no network), so an image that
// arrives came through Keel. Each upstream's access log (after seeding) shows which
// requests reached it: each got only its own, and none was a write.
//
// Setup as a user would write it:
//   dockerd   --registry-mirror http://<keel> (plus --insecure-registry <keel>)
//   ctr       --hosts-dir DIR, DIR/docker.io/hosts.toml and DIR/quay.io/hosts.toml:
//               server = "https://registry-1.docker.io"   (or "https://quay.io")
//               [host."http://<keel>"]
//                 capabilities = ["pull", "resolve"]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Cleanup } from '../support/e2e/cleanup.js';
import { startContainerd, type Containerd } from '../support/e2e/containerd.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { startDockerd, type Dockerd } from '../support/e2e/dockerd.js';
import { OciLayout, sha256, type BuiltImage } from '../support/e2e/images.js';
import { createSkopeo, type Skopeo } from '../support/e2e/skopeo.js';
import { makeTempDir } from '../support/e2e/temp-dir.js';
import { ensureTools, TOOL_INSTALL_TIMEOUT_MS } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';

const LAYER_SIZE = 32 * 1024;
const TAG = 'v1';
/** Pulled by docker through `[mirror] upstream` (no ns). */
const ALPHA = 'library/alpha';
/** Pulled by ctr as docker.io/library/gamma (ns=docker.io). */
const GAMMA = 'library/gamma';
/** Pulled by ctr as quay.io/keelorg/beta (ns=quay.io); hubmirror holds a decoy of the same name. */
const BETA = 'keelorg/beta';
/** Pushed to Keel; hubmirror holds a decoy of the same name. */
const LOCAL = 'library/localonly';
/** Pushed to Keel only. */
const PUSHED = 'library/pushed';

interface Upstream {
  name: 'hubmirror' | 'quaymirror';
  registry: Distribution;
  /** Size of its access log when seeding ended: later lines are Keel's requests. */
  seededLogSize: number;
}

const IMAGE_NAMES = ['alpha', 'gamma', 'beta', 'betaDecoy', 'local', 'localDecoy', 'pushed'] as const;
type ImageName = (typeof IMAGE_NAMES)[number];

interface LoggedRequest {
  method: string;
  path: string;
}

const cleanup = new Cleanup();
let hub: Upstream;
let quay: Upstream;
let keel: KeelProcess;
let layout: OciLayout;
let skopeo: Skopeo;
let containerd: Containerd;
let dockerd: Dockerd;
let hostsDir: string;
let images: Record<ImageName | 'alphaV2', BuiltImage>;

const diffIds = (i: BuiltImage): string[] => i.layers.map((l) => l.diffId);
const blobsOf = (i: BuiltImage): string[] => [i.config.digest, ...i.layers.map((l) => l.descriptor.digest)];

/** The requests an upstream logged after seeding, in order (method and path with query). */
async function requestsSinceSeeding(u: Upstream): Promise<LoggedRequest[]> {
  const log = (await readFile(u.registry.process.logFile)).subarray(u.seededLogSize).toString('utf8');
  const out: LoggedRequest[] = [];
  for (const line of log.split('\n')) {
    const m = /"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+"/.exec(line);
    if (m) out.push({ method: m[1] as string, path: m[2] as string });
  }
  return out;
}

function keelToml(): string {
  const q = (s: string): string => JSON.stringify(s);
  const section = (u: Upstream): string =>
    [`[proxy.upstreams.${u.name}]`, `url = ${q(u.registry.url)}`, 'allow_private = true', 'timeout = "10s"'].join('\n');
  return [
    ['[proxy]', 'tag_ttl = "5m"'].join('\n'),
    section(hub),
    section(quay),
    ['[proxy.aliases]', `"docker.io" = "${hub.name}"`, `"quay.io" = "${quay.name}"`].join('\n'),
    ['[mirror]', `upstream = "${hub.name}"`].join('\n'),
    '',
  ].join('\n\n');
}

/** containerd's hosts.toml for `registry`: try Keel first (pull and resolve), then the real server. */
function hostsToml(server: string): string {
  return [
    `server = ${JSON.stringify(server)}`,
    '',
    `[host."http://${keel.host}"]`,
    '  capabilities = ["pull", "resolve"]',
    '',
  ].join('\n');
}

async function push(tag: string, registry: string, repo: string): Promise<void> {
  await skopeo.copy(layout.ref(tag), `docker://${registry}/${repo}:${TAG}`, { preserveDigests: true });
}

async function manifestStatus(url: string, repo: string, reference: string): Promise<number> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${reference}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  return res.status;
}

beforeAll(async () => {
  await ensureTools(['dockerd', 'docker', 'containerd', 'ctr', 'runc', 'skopeo', 'docker-registry']);
  const [hubRegistry, quayRegistry] = await Promise.all([
    startDistribution().then((d) => cleanup.add('distribution (hubmirror)', d, (x) => x.stop())),
    startDistribution().then((d) => cleanup.add('distribution (quaymirror)', d, (x) => x.stop())),
  ]);
  skopeo = cleanup.add('skopeo', await createSkopeo(), (s) => s.remove());
  layout = cleanup.add('oci layout', await OciLayout.create(), (l) => l.remove());
  hostsDir = cleanup.add('hosts dir', await makeTempDir('hosts'), (d) => d.remove()).path;

  // One after the other: every tag rewrites the layout's index.json.
  const built: Partial<Record<ImageName, BuiltImage>> = {};
  for (const name of IMAGE_NAMES) {
    built[name] = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, tag: name, labels: { name } });
  }
  const { alpha, gamma, beta, betaDecoy, local, localDecoy, pushed } = built as Record<ImageName, BuiltImage>;
  // A new tag of alpha on its layers, pushed to Keel under alpha's name: the layers are
  // in Keel's mirror cache by then, but not in its local registry.
  const alphaV2 = await layout.addImage({ layers: alpha.layers, tag: 'alphaV2', labels: { name: 'alphaV2' } });
  images = { alpha, gamma, beta, betaDecoy, local, localDecoy, pushed, alphaV2 };

  await Promise.all([
    push('alpha', hubRegistry.host, ALPHA),
    push('gamma', hubRegistry.host, GAMMA),
    push('betaDecoy', hubRegistry.host, BETA),
    push('localDecoy', hubRegistry.host, LOCAL),
    push('beta', quayRegistry.host, BETA),
  ]);
  const logSize = async (d: Distribution): Promise<number> => (await readFile(d.process.logFile)).length;
  hub = { name: 'hubmirror', registry: hubRegistry, seededLogSize: await logSize(hubRegistry) };
  quay = { name: 'quaymirror', registry: quayRegistry, seededLogSize: await logSize(quayRegistry) };

  keel = cleanup.add('keel', await startKeel({ toml: keelToml() }), (k) => k.destroy());
  await push('local', keel.host, LOCAL);

  for (const [registry, server] of [['docker.io', 'https://registry-1.docker.io'], ['quay.io', 'https://quay.io']] as const) {
    await mkdir(join(hostsDir, registry));
    await writeFile(join(hostsDir, registry, 'hosts.toml'), hostsToml(server));
  }
  // One containerd: ctr pulls in namespace "default", dockerd uses "moby" on the same daemon.
  containerd = cleanup.add('containerd', await startContainerd(), (c) => c.stop());
  dockerd = cleanup.add(
    'dockerd',
    await startDockerd({ containerd, insecureRegistries: [keel.host], registryMirrors: [`http://${keel.host}`] }),
    (d) => d.stop(),
  );
}, TOOL_INSTALL_TIMEOUT_MS + 90_000);

afterAll(async () => {
  await cleanup.run();
}, 90_000);

test('docker with registry-mirrors = Keel pulls library/alpha, which only the upstream has', async () => {
  const { alpha } = images;
  await dockerd.docker(['pull', `alpha:${TAG}`]);

  const pulled = await dockerd.inspectImage(`alpha:${TAG}`);
  expect(pulled.Id).toBe(alpha.config.digest);
  expect(pulled.RepoTags).toContain(`alpha:${TAG}`);
  expect(pulled.RepoDigests).toContain(`alpha@${alpha.manifest.digest}`);
  expect(pulled.RootFS.Layers).toEqual(diffIds(alpha));
  // It came from hubmirror, through Keel: every blob left it once.
  const asked = await requestsSinceSeeding(hub);
  expect(asked.filter((r) => r.method === 'GET' && r.path.startsWith(`/v2/${ALPHA}/blobs/`)).map((r) => r.path.split('/').pop()).sort()).toEqual(
    [...blobsOf(alpha)].sort(),
  );
  // The only reads of another name are the blob HEADs of the push of library/localonly to Keel.
  expect(asked.filter((r) => !r.path.startsWith(`/v2/${ALPHA}/`) && !(r.method === 'HEAD' && r.path.startsWith(`/v2/${LOCAL}/blobs/`)))).toEqual([]);
  expect(await requestsSinceSeeding(quay)).toEqual([]);
});

test('docker with registry-mirrors = Keel gets library/localonly from the local registry, not the upstream decoy', async () => {
  const { local, localDecoy } = images;
  await dockerd.docker(['pull', `localonly:${TAG}`]);

  const pulled = await dockerd.inspectImage(`localonly:${TAG}`);
  expect(pulled.Id).toBe(local.config.digest);
  expect(pulled.Id).not.toBe(localDecoy.config.digest);
  expect(pulled.RepoDigests).toContain(`localonly@${local.manifest.digest}`);
  expect(pulled.RootFS.Layers).toEqual(diffIds(local));
  // The decoy's manifest and blobs never left hubmirror.
  expect((await requestsSinceSeeding(hub)).filter((r) => r.method === 'GET' && r.path.startsWith(`/v2/${LOCAL}/`))).toEqual([]);
});

test('ctr --hosts-dir pulls docker.io and quay.io images through Keel, each from its own upstream by ns', async () => {
  const { gamma, beta, betaDecoy } = images;
  const hubBefore = (await requestsSinceSeeding(hub)).length;
  const dockerRef = `docker.io/${GAMMA}:${TAG}`;
  const quayRef = `quay.io/${BETA}:${TAG}`;

  await containerd.pull(dockerRef, { hostsDir });
  await containerd.pull(quayRef, { hostsDir });

  expect(await containerd.imageDigest(dockerRef)).toBe(gamma.manifest.digest);
  expect(await containerd.imageDigest(quayRef)).toBe(beta.manifest.digest);
  expect(beta.manifest.digest).not.toBe(betaDecoy.manifest.digest);
  const content = await containerd.contentDigests();
  for (const image of [gamma, beta]) {
    for (const digest of [image.manifest.digest, ...blobsOf(image)]) expect(content).toContain(digest);
    for (const layer of image.layers) {
      const stored = await containerd.readContent(layer.descriptor.digest);
      expect(stored.equals(await readFile(layout.blobPath(layer.descriptor.digest)))).toBe(true);
    }
  }

  // hubmirror got gamma's requests and nothing of beta (its decoy was never asked for);
  // quaymirror got beta's and nothing else.
  const hubAsked = (await requestsSinceSeeding(hub)).slice(hubBefore);
  expect(hubAsked.length).toBeGreaterThan(0);
  for (const r of hubAsked) expect([r.method, r.path]).toEqual([r.method, expect.stringMatching(new RegExp(`^/v2/(${GAMMA}/.*)?$`))]);
  const quayAsked = await requestsSinceSeeding(quay);
  expect(quayAsked.length).toBeGreaterThan(0);
  for (const r of quayAsked) expect([r.method, r.path]).toEqual([r.method, expect.stringMatching(new RegExp(`^/v2/(${BETA}/.*)?$`))]);
  // Keel used ns to choose, and kept it to itself.
  expect([...hubAsked, ...quayAsked].filter((r) => r.path.includes('ns='))).toEqual([]);
  for (const [u, image, repo] of [[hub, gamma, GAMMA], [quay, beta, BETA]] as const) {
    const gets = (await requestsSinceSeeding(u)).filter((r) => r.method === 'GET' && r.path.startsWith(`/v2/${repo}/blobs/`));
    expect(gets.map((r) => r.path.split('/').pop()).sort()).toEqual([...blobsOf(image)].sort());
  }
});

test('a push goes to the local registry only: stored in Keel, no write reaches an upstream', async () => {
  const { pushed } = images;
  await push('pushed', keel.host, PUSHED);

  const raw = await skopeo.inspectRaw(`docker://${keel.host}/${PUSHED}:${TAG}`);
  expect(raw.equals(pushed.manifestBytes)).toBe(true);
  for (const digest of blobsOf(pushed)) {
    const res = await fetch(`${keel.url}/v2/${PUSHED}/blobs/${digest}`);
    expect([digest, res.status]).toEqual([digest, 200]);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(digest);
  }
  // The upstream does not have it: Keel served its own copy.
  expect(await manifestStatus(hub.registry.url, PUSHED, TAG)).toBe(404);
  for (const u of [hub, quay]) {
    const writes = (await requestsSinceSeeding(u)).filter((r) => !['GET', 'HEAD'].includes(r.method));
    expect([u.name, writes]).toEqual([u.name, []]);
  }
});

test('a push under a name the upstream has, reusing layers Keel mirrored from it, is stored locally', async () => {
  // alpha's layers are in Keel's mirror cache (docker pulled alpha:v1 above) but not in its
  // local registry; skopeo asks Keel whether each blob exists before uploading it.
  const { alphaV2 } = images;
  const copied = await skopeo.skopeo(
    ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', '--preserve-digests', layout.ref('alphaV2'), `docker://${keel.host}/${ALPHA}:v2`],
    { allowFailure: true },
  );
  expect({ code: copied.code, stderr: copied.stderr }).toEqual({ code: 0, stderr: '' });

  const raw = await skopeo.inspectRaw(`docker://${keel.host}/${ALPHA}:v2`);
  expect(raw.equals(alphaV2.manifestBytes)).toBe(true);
  expect(await manifestStatus(hub.registry.url, ALPHA, 'v2')).toBe(404);
  for (const u of [hub, quay]) {
    const writes = (await requestsSinceSeeding(u)).filter((r) => !['GET', 'HEAD'].includes(r.method));
    expect([u.name, writes]).toEqual([u.name, []]);
  }
});
