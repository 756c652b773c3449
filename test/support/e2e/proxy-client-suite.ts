// The proxy e2e suite: real clients pull through Keel's proxy from three real upstreams and
// get bit-identical images. The upstreams are CNCF Distribution 2.8 on loopback: one
// anonymous, one behind htpasswd (Basic), one behind token auth whose realm is a token server
// on another port that hands out tokens only for credentials. Only Keel knows the upstream
// credentials: the clients (docker, podman, skopeo, ctr) talk to Keel anonymously.
//
// Each upstream is seeded with skopeo --preserve-digests from an OCI layout built offline,
// so every digest is known: an image every client pulls in turn, one all four pull at once
// (cold), one pulled by digest only, and a two-platform index. Every client's result is
// compared with what was pushed (manifest, config and layer digests and bytes), and each
// upstream's access log shows that every blob left it once, however many clients pulled it.
//
// Run against Keel with its storage on the filesystem (test/e2e/proxy-clients.test.ts) and on
// S3 (test/e2e/proxy-clients-s3.test.ts): the caller says how Keel's storage is set up.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { countRequests } from './access-log.js';
import { Cleanup } from './cleanup.js';
import { startContainerd, type Containerd } from './containerd.js';
import type { Credentials } from './credentials.js';
import { startDistribution, type Distribution } from './distribution.js';
import { startDockerd, type Dockerd } from './dockerd.js';
import { LINUX_AMD64, LINUX_ARM64, OciLayout, type BuiltImage, type BuiltIndex } from './images.js';
import { expectSameBlobs, taggedDigest } from './pulled-layout.js';
import { createPodman, type Podman } from './podman.js';
import { createSkopeo, type Skopeo } from './skopeo.js';
import { makeTempDir } from './temp-dir.js';
import { startTokenServer, type TokenServer } from './token-server.js';
import { ensureTools, TOOL_INSTALL_TIMEOUT_MS } from './tools.js';
import { startKeel, type KeelProcess } from '../keel-server.js';

const LAYER_SIZE = 48 * 1024;
/** Big enough that the four clients of the herd test overlap while the layers download. */
const HERD_LAYER_SIZE = 1024 * 1024;
const APP = 'e2e/app';
const MULTI = 'e2e/multi';
const HERD = 'e2e/herd';
/** Pulled only by digest, never by tag. */
const PINNED = 'e2e/pinned';
const TAG = 'v1';

/** Different credentials for the two protected upstreams, so a mix-up cannot pass. */
const BASIC_CREDS: Credentials = { username: 'keel-basic', password: 'basic pass 1' };
const TOKEN_CREDS: Credentials = { username: 'keel-token', password: 'token pass 2' };

export type UpstreamName = 'anon' | 'basic' | 'token';
const NAMES: readonly UpstreamName[] = ['anon', 'basic', 'token'];

interface Seeded {
  name: UpstreamName;
  registry: Distribution;
  /** What skopeo needs to push to it; Keel's section in the TOML holds the same. */
  credentials: Credentials | undefined;
  app: BuiltImage;
  /** Pulled by all four clients at once, cold. */
  herd: BuiltImage;
  pinned: BuiltImage;
  index: BuiltIndex;
  amd64: BuiltImage;
  arm64: BuiltImage;
}

/** How Keel stores what it caches: TOML placed before the [proxy] tables, and its teardown. */
export interface KeelStorage {
  /** Top-level keys and tables of the storage ('' for the defaults: files under Keel's temp dir). */
  toml: string;
  stop(): Promise<void>;
}

/** What a running suite has pulled, for extra tests a caller adds. */
export interface ProxyClientsContext {
  keel: KeelProcess;
  /** The config and layer digests every client pulled through Keel, from every upstream. */
  pulledBlobs: string[];
}

export interface ProxyClientsOptions {
  storage: () => Promise<KeelStorage>;
  /**
   * The upstreams pulled through (default all three). Every test runs for each; the checks of
   * the Basic and token upstreams run when those are in the list.
   */
  upstreams?: readonly UpstreamName[];
  /** Extra tests, run after the suite's. */
  more?: (ctx: () => ProxyClientsContext) => void;
}

export function describeProxyClients(label: string, options: ProxyClientsOptions): void {
  const names = options.upstreams ?? NAMES;
  describe(label, () => {
    const cleanup = new Cleanup();
    const upstreams = new Map<UpstreamName, Seeded>();
    let tokens: TokenServer;
    let keel: KeelProcess;
    let layout: OciLayout;
    let skopeo: Skopeo;
    let podman: Podman;
    let containerd: Containerd;
    let dockerd: Dockerd;
    let scratch: string;
    /** Token requests up to the end of seeding (skopeo's); every later one is Keel's. */
    let seedingTokenRequests = 0;

    function seeded(name: UpstreamName): Seeded {
      const s = upstreams.get(name);
      if (s === undefined) throw new Error(`upstream ${name} was not started`);
      return s;
    }

    /** `<keel>/proxy/<upstream>/<repo>:<tag>` or `...@<digest>`. */
    function keelRef(name: UpstreamName, repo: string, tagOrDigest = TAG): string {
      return `${keel.host}/proxy/${name}/${repo}${tagOrDigest.startsWith('sha256:') ? '@' : ':'}${tagOrDigest}`;
    }

    const diffIds = (i: BuiltImage): string[] => i.layers.map((l) => l.diffId);
    const blobsOf = (i: BuiltImage): string[] => [i.config.digest, ...i.layers.map((l) => l.descriptor.digest)];

    function keelToml(storageToml: string, urlOf: (name: UpstreamName) => string): string {
      const q = (s: string): string => JSON.stringify(s);
      const section = (name: UpstreamName, extra: string[] = []): string =>
        [`[proxy.upstreams.${name}]`, `url = ${q(urlOf(name))}`, 'allow_private = true', 'timeout = "10s"', ...extra].join('\n');
      const creds = (c: Credentials): string[] => [`username = ${q(c.username)}`, `password = ${q(c.password)}`];
      return [
        storageToml,
        '[proxy]',
        'tag_ttl = "5m"',
        ...(names.includes('anon') ? [section('anon')] : []),
        ...(names.includes('basic') ? [section('basic', creds(BASIC_CREDS))] : []),
        // The realm is on the token server's port, not the registry's: without auth_hosts Keel
        // would (rightly) ask it for an anonymous token, which this server refuses.
        ...(names.includes('token') ? [section('token', [...creds(TOKEN_CREDS), `auth_hosts = [${q(new URL(tokens.url).host)}]`])] : []),
        '',
      ].join('\n\n');
    }

    /** Three images and a two-platform index, tagged `<name>-app|herd|pinned|multi` in the layout. */
    async function build(name: UpstreamName): Promise<Omit<Seeded, 'registry' | 'credentials'>> {
      const app = await layout.addImage({ layers: 3, layerSize: LAYER_SIZE, tag: `${name}-app` });
      const herd = await layout.addImage({ layers: 3, layerSize: HERD_LAYER_SIZE, tag: `${name}-herd` });
      const pinned = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, tag: `${name}-pinned` });
      const amd64 = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, platform: LINUX_AMD64 });
      const arm64 = await layout.addImage({ layers: 2, layerSize: LAYER_SIZE, platform: LINUX_ARM64 });
      const index = await layout.addIndex([amd64, arm64], `${name}-multi`);
      return { name, app, herd, pinned, index, amd64, arm64 };
    }

    /** Pushes them, digest for digest. */
    async function seed(built: Omit<Seeded, 'registry' | 'credentials'>, registry: Distribution, credentials: Credentials | undefined): Promise<Seeded> {
      const dest = (repo: string): string => `docker://${registry.host}/${repo}:${TAG}`;
      await skopeo.copy(layout.ref(`${built.name}-app`), dest(APP), { preserveDigests: true, destCredentials: credentials });
      await skopeo.copy(layout.ref(`${built.name}-herd`), dest(HERD), { preserveDigests: true, destCredentials: credentials });
      await skopeo.copy(layout.ref(`${built.name}-pinned`), dest(PINNED), { preserveDigests: true, destCredentials: credentials });
      await skopeo.copy(layout.ref(`${built.name}-multi`), dest(MULTI), { all: true, preserveDigests: true, destCredentials: credentials });
      return { ...built, registry, credentials };
    }

    /** Blob GETs the upstream has logged for `repo`, per digest. */
    async function upstreamBlobGets(s: Seeded, repo: string, digests: readonly string[]): Promise<Record<string, number>> {
      const counts: Record<string, number> = {};
      for (const d of digests) counts[d] = await countRequests(s.registry, 'GET', `/v2/${repo}/blobs/${d}`);
      return counts;
    }

    /** Each repository on an upstream with the config and layer blobs pulled from it. */
    function repoBlobs(s: Seeded): [string, string[]][] {
      return [
        [APP, blobsOf(s.app)],
        [HERD, blobsOf(s.herd)],
        [PINNED, blobsOf(s.pinned)],
        [MULTI, [...blobsOf(s.amd64), ...blobsOf(s.arm64)]],
      ];
    }

    /** skopeo copy from Keel into a fresh OCI layout; returns the layout's directory. */
    async function skopeoPull(ref: string, label: string, all = false): Promise<string> {
      const dir = join(scratch, label);
      await skopeo.copy(`docker://${ref}`, `oci:${dir}:${TAG}`, { all, preserveDigests: true });
      return dir;
    }


    beforeAll(async () => {
      await ensureTools(['dockerd', 'docker', 'containerd', 'ctr', 'runc', 'podman', 'skopeo', 'docker-registry', 'htpasswd', 'openssl']);
      tokens = cleanup.add(
        'token server',
        await startTokenServer({ credentials: TOKEN_CREDS, allowAnonymous: false }),
        (t) => t.stop(),
      );
      const starts: Record<UpstreamName, () => Promise<[Distribution, Credentials | undefined]>> = {
        anon: async () => [cleanup.add('distribution (anonymous)', await startDistribution(), (x) => x.stop()), undefined],
        basic: async () => [cleanup.add('distribution (htpasswd)', await startDistribution({ auth: BASIC_CREDS }), (x) => x.stop()), BASIC_CREDS],
        token: async () => [cleanup.add('distribution (token)', await startDistribution({ tokenAuth: tokens.tokenAuth }), (x) => x.stop()), TOKEN_CREDS],
      };
      const started = await Promise.all(names.map((n) => starts[n]()));
      const registries = new Map(names.map((n, i) => [n, started[i] as [Distribution, Credentials | undefined]]));
      const registry = (n: UpstreamName): [Distribution, Credentials | undefined] => {
        const r = registries.get(n);
        if (r === undefined) throw new Error(`upstream ${n} was not started`);
        return r;
      };
      skopeo = cleanup.add('skopeo', await createSkopeo(), (s) => s.remove());
      podman = cleanup.add('podman', await createPodman(), (p) => p.remove());
      layout = cleanup.add('oci layout', await OciLayout.create(), (l) => l.remove());
      scratch = cleanup.add('pulled layouts', await makeTempDir('pulled'), (d) => d.remove()).path;

      // Built one after the other: every tag rewrites the layout's index.json.
      const built = [];
      for (const n of names) built.push(await build(n));
      const storage = cleanup.add('keel storage', await options.storage(), (s) => s.stop());
      keel = cleanup.add('keel', await startKeel({ toml: keelToml(storage.toml, (n) => registry(n)[0].url) }), (k) => k.destroy());

      // dockerd needs Keel's host:port (insecure registry); the daemons start while the
      // upstreams are seeded.
      const [seededAll, ctrd, dockd] = await Promise.all([
        Promise.all(built.map((b) => seed(b, ...registry(b.name)))),
        startContainerd().then((c) => cleanup.add('containerd', c, (x) => x.stop())),
        startDockerd({ insecureRegistries: [keel.host] }).then((d) => cleanup.add('dockerd', d, (x) => x.stop())),
      ]);
      for (const s of seededAll) upstreams.set(s.name, s);
      [containerd, dockerd] = [ctrd, dockd];
      seedingTokenRequests = tokens.requests.length;
    }, TOOL_INSTALL_TIMEOUT_MS + 120_000);

    afterAll(async () => {
      await cleanup.run();
    }, 120_000);

    test('the upstreams are protected as intended, and seeding fetched no blob from them', async () => {
      if (names.includes('basic')) {
        const basic = await fetch(`${seeded('basic').registry.url}/v2/${APP}/manifests/${TAG}`);
        expect(basic.status).toBe(401);
        expect(basic.headers.get('www-authenticate')).toMatch(/^Basic /);
      }
      if (names.includes('token')) {
        const token = await fetch(`${seeded('token').registry.url}/v2/${APP}/manifests/${TAG}`);
        expect(token.status).toBe(401);
        expect(token.headers.get('www-authenticate')).toMatch(new RegExp(`^Bearer realm="${tokens.realm}"`));
        // The realm is on another port than the registry.
        expect(new URL(tokens.realm).host).not.toBe(seeded('token').registry.host);
      }

      for (const name of names) {
        for (const [repo, digests] of repoBlobs(seeded(name))) {
          expect(await upstreamBlobGets(seeded(name), repo, digests)).toEqual(Object.fromEntries(digests.map((d) => [d, 0])));
        }
      }
    });

    describe.each(names)('through proxy/%s', (name) => {
      test('docker pulls the image', async () => {
        const { app } = seeded(name);
        await dockerd.docker(['pull', keelRef(name, APP)]);

        const pulled = await dockerd.inspectImage(keelRef(name, APP));
        expect(pulled.Id).toBe(app.config.digest);
        expect(pulled.RepoDigests).toContain(keelRef(name, APP, app.manifest.digest));
        expect(pulled.RootFS.Layers).toEqual(diffIds(app));
      });

      test('podman pulls the image', async () => {
        const { app } = seeded(name);
        await podman.pull(keelRef(name, APP));

        const pulled = await podman.inspectImage(keelRef(name, APP));
        expect(pulled.Digest).toBe(app.manifest.digest);
        expect(`sha256:${pulled.Id}`).toBe(app.config.digest);
        expect(pulled.RepoDigests).toContain(keelRef(name, APP, app.manifest.digest));
        expect(pulled.RootFS.Layers).toEqual(diffIds(app));
      });

      test('skopeo copies the image into an OCI layout byte for byte', async () => {
        const { app } = seeded(name);
        const raw = await skopeo.inspectRaw(`docker://${keelRef(name, APP)}`);
        expect(raw.equals(app.manifestBytes)).toBe(true);

        const dir = await skopeoPull(keelRef(name, APP), `${name}-app`);
        expect(await taggedDigest(dir, TAG)).toBe(app.manifest.digest);
        await expectSameBlobs(dir, layout, [app.manifest.digest, ...blobsOf(app)]);
      });

      test('ctr pulls and unpacks the image', async () => {
        const { app } = seeded(name);
        await containerd.pull(keelRef(name, APP));

        expect(await containerd.imageDigest(keelRef(name, APP))).toBe(app.manifest.digest);
        const content = await containerd.contentDigests();
        for (const digest of [app.manifest.digest, ...blobsOf(app)]) expect(content).toContain(digest);
        for (const layer of app.layers) {
          const stored = await containerd.readContent(layer.descriptor.digest);
          expect(stored.equals(await readFile(layout.blobPath(layer.descriptor.digest)))).toBe(true);
        }
      });

      test('the two-platform index: skopeo --all, ctr --all-platforms, docker arm64, podman amd64', async () => {
        const { index, amd64, arm64 } = seeded(name);
        const children = index.images.flatMap((i) => [i.manifest.digest, ...blobsOf(i)]);

        const raw = await skopeo.inspectRaw(`docker://${keelRef(name, MULTI)}`);
        expect(raw.equals(index.bytes)).toBe(true);
        const dir = await skopeoPull(keelRef(name, MULTI), `${name}-multi`, true);
        expect(await taggedDigest(dir, TAG)).toBe(index.descriptor.digest);
        await expectSameBlobs(dir, layout, [index.descriptor.digest, ...children]);

        await containerd.pull(keelRef(name, MULTI), { allPlatforms: true });
        expect(await containerd.imageDigest(keelRef(name, MULTI))).toBe(index.descriptor.digest);
        const content = await containerd.contentDigests();
        for (const digest of [index.descriptor.digest, ...children]) expect(content).toContain(digest);

        await dockerd.docker(['pull', '--platform', 'linux/arm64', keelRef(name, MULTI)]);
        const dockerArm = await dockerd.inspectImage(keelRef(name, MULTI));
        expect(dockerArm.Id).toBe(arm64.config.digest);
        expect(dockerArm.Architecture).toBe('arm64');
        expect(dockerArm.RepoDigests).toContain(keelRef(name, MULTI, index.descriptor.digest));
        expect(dockerArm.RootFS.Layers).toEqual(diffIds(arm64));

        await podman.pull(keelRef(name, MULTI), { platform: 'linux/amd64' });
        const podmanAmd = await podman.inspectImage(keelRef(name, MULTI));
        expect(`sha256:${podmanAmd.Id}`).toBe(amd64.config.digest);
        expect(podmanAmd.RootFS.Layers).toEqual(diffIds(amd64));
      });

      test('four clients pulling a cold image at once: docker, podman, skopeo and ctr together', async () => {
        const { herd } = seeded(name);
        const ref = keelRef(name, HERD);
        const [, , dir] = await Promise.all([
          dockerd.docker(['pull', ref]),
          podman.pull(ref),
          skopeoPull(ref, `${name}-herd`),
          containerd.pull(ref),
        ]);

        const docker = await dockerd.inspectImage(ref);
        expect([docker.Id, docker.RootFS.Layers]).toEqual([herd.config.digest, diffIds(herd)]);
        const pod = await podman.inspectImage(ref);
        expect([pod.Digest, `sha256:${pod.Id}`, pod.RootFS.Layers]).toEqual([herd.manifest.digest, herd.config.digest, diffIds(herd)]);
        expect(await taggedDigest(dir, TAG)).toBe(herd.manifest.digest);
        await expectSameBlobs(dir, layout, [herd.manifest.digest, ...blobsOf(herd)]);
        expect(await containerd.imageDigest(ref)).toBe(herd.manifest.digest);
        const content = await containerd.contentDigests();
        for (const digest of blobsOf(herd)) expect(content).toContain(digest);
      });

      test('a cold image pulled by digest only: ctr, docker, podman, skopeo', async () => {
        const { pinned } = seeded(name);
        const ref = keelRef(name, PINNED, pinned.manifest.digest);
        await containerd.pull(ref);
        expect(await containerd.imageDigest(ref)).toBe(pinned.manifest.digest);

        await dockerd.docker(['pull', ref]);
        const docker = await dockerd.inspectImage(ref);
        expect([docker.Id, docker.RootFS.Layers]).toEqual([pinned.config.digest, diffIds(pinned)]);

        await podman.pull(ref);
        const pod = await podman.inspectImage(ref);
        expect([pod.Digest, `sha256:${pod.Id}`, pod.RootFS.Layers]).toEqual([pinned.manifest.digest, pinned.config.digest, diffIds(pinned)]);

        expect((await skopeo.inspectRaw(`docker://${ref}`)).equals(pinned.manifestBytes)).toBe(true);
        // The tag was never asked for, so the upstream was asked for the digest only.
        expect(await countRequests(seeded(name).registry, 'GET', `/v2/${PINNED}/manifests/${TAG}`)).toBe(0);
      });

      test('skopeo list-tags sees the upstream tags under the proxied name', async () => {
        const out = (await skopeo.skopeo(['list-tags', '--tls-verify=false', `docker://${keel.host}/proxy/${name}/${APP}`])).stdout.toString('utf8');
        expect(JSON.parse(out)).toEqual({ Repository: `${keel.host}/proxy/${name}/${APP}`, Tags: [TAG] });
      });

      test('every blob left the upstream once, though every client pulled it', async () => {
        const s = seeded(name);
        for (const [repo, digests] of repoBlobs(s)) {
          expect([repo, await upstreamBlobGets(s, repo, digests)]).toEqual([repo, Object.fromEntries(digests.map((d) => [d, 1]))]);
        }
      });
    });

    if (names.includes('token')) test('token auth: Keel got every token with its Basic credentials; the clients never had them', async () => {
      const keelRequests = tokens.requests.slice(seedingTokenRequests);
      expect(keelRequests.length).toBeGreaterThan(0);
      for (const r of keelRequests) {
        expect({ basicAuth: r.basicAuth, username: r.username, status: r.status, service: r.service }).toEqual({
          basicAuth: true,
          username: TOKEN_CREDS.username,
          status: 200,
          service: tokens.service,
        });
      }
      // Pull only, and only on the repositories the clients pulled.
      expect(new Set(keelRequests.flatMap((r) => r.scopes))).toEqual(new Set([APP, HERD, PINNED, MULTI].map((repo) => `repository:${repo}:pull`)));
      // Without credentials the realm gives no token: the clients could not have got one on their own.
      const anonymous = await fetch(`${tokens.realm}?service=${tokens.service}&scope=repository:${APP}:pull`);
      expect(anonymous.status).toBe(401);

      // No client was ever given credentials: their auth files are as the helpers wrote them.
      for (const file of [join(skopeo.dir, 'auth.json'), join(podman.dir, 'auth.json'), join(dockerd.dir, 'client', 'config.json')]) {
        expect([file, await readFile(file, 'utf8')]).toEqual([file, '{}\n']);
      }
      // And Keel never asked them for any: it answers anonymous requests without a challenge.
      for (const path of ['/v2/', ...names.filter((n) => n !== 'anon').map((n) => `/v2/proxy/${n}/${APP}/manifests/${TAG}`)]) {
        const res = await fetch(`${keel.url}${path}`, { method: 'HEAD' });
        expect([path, res.status, res.headers.get('www-authenticate')]).toEqual([path, 200, null]);
      }
    });

    options.more?.(() => ({ keel, pulledBlobs: names.flatMap((n) => repoBlobs(seeded(n)).flatMap(([, digests]) => digests)) }));
  });
}
