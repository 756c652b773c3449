// A private Docker daemon (Debian's dockerd 20.10) and Debian's docker client pointed at it.
//
// Layout under the temp dir:
//   daemon.json     private daemon config (so /etc/docker/daemon.json is never read) that
//                   also moves the trust key out of /etc/docker
//   data/  exec/    --data-root and --exec-root
//   docker.sock     -H unix://...; docker.pid --pidfile; dockerd.log its output
//   client/         DOCKER_CONFIG for the client, so `docker login` leaves ~/.docker alone
// dockerd talks to its own private containerd (see containerd.ts) unless one is passed in.
// Flags that matter in this sandbox (a container without systemd, no network but loopback):
//   --storage-driver=vfs        overlay2 on top of the sandbox's filesystem is not a given
//                               (the benchmark asks for overlay2 where it works: vfs copies
//                               every parent layer in full, which is not what users run)
//   --bridge=none --iptables=false --ip-forward=false --ip-masq=false
//                               no docker0, no iptables rules, no sysctl writes on the host
//   --insecure-registry         plain HTTP to the registry under test (127.0.0.0/8 is
//                               insecure by default anyway; the flag makes it explicit)
// Most tests do image operations only (pull, push, load, tag, inspect). Building and running
// containers works too, on the host network only (no bridge): the legacy builder with
// `docker build --network host`, and `docker run --network host` (container-image.test.ts).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startContainerd, type Containerd } from './containerd.js';
import type { Credentials } from './credentials.js';
import { httpResponds, startProcess, type ManagedProcess } from './processes.js';
import { run, type RunOptions, type RunResult } from './run.js';
import { makeTempDir } from './temp-dir.js';
import { toolPath } from './tools.js';

export interface StartDockerdOptions {
  /** host:port of registries reached over plain HTTP. */
  insecureRegistries?: readonly string[];
  /** Passed as --registry-mirror (docker uses mirrors for docker.io only). */
  registryMirrors?: readonly string[];
  /** Share an already running containerd instead of starting a private one. */
  containerd?: Containerd;
  /** dockerd --storage-driver; default vfs (see above). */
  storageDriver?: 'vfs' | 'overlay2';
}

/** The parts of `docker image inspect` the tests look at. */
export interface DockerImage {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Architecture: string;
  Os: string;
  RootFS: { Type: string; Layers: string[] };
}

export interface Dockerd {
  readonly socket: string;
  readonly dir: string;
  readonly process: ManagedProcess;
  /** Runs Debian's `/usr/bin/docker -H unix://<socket> ...args`. */
  docker(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  login(registry: string, credentials: Credentials): Promise<void>;
  /** `docker load -i archive` (e.g. a docker-archive written by skopeo). */
  load(archive: string): Promise<void>;
  inspectImage(ref: string): Promise<DockerImage>;
  /** Stops dockerd (and the containerd it started) and deletes its directory. */
  stop(): Promise<void>;
}

export async function startDockerd(opts: StartDockerdOptions = {}): Promise<Dockerd> {
  const tmp = await makeTempDir('dockerd');
  const dir = tmp.path;
  const socket = join(dir, 'docker.sock');
  const clientConfig = join(dir, 'client');
  const ownContainerd = opts.containerd === undefined;
  let containerd: Containerd | undefined;
  let proc: ManagedProcess;
  try {
    containerd = opts.containerd ?? (await startContainerd({ namespace: 'moby' }));
    await mkdir(clientConfig);
    await writeFile(join(clientConfig, 'config.json'), '{}\n');
    const daemonJson = join(dir, 'daemon.json');
    await writeFile(daemonJson, `${JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }, null, 2)}\n`);
    const args = [
      '--config-file', daemonJson,
      '--containerd', containerd.address,
      '--containerd-namespace', 'moby',
      '--data-root', join(dir, 'data'),
      '--exec-root', join(dir, 'exec'),
      '--pidfile', join(dir, 'docker.pid'),
      '-H', `unix://${socket}`,
      `--storage-driver=${opts.storageDriver ?? 'vfs'}`,
      '--bridge=none',
      '--iptables=false',
      '--ip-forward=false',
      '--ip-masq=false',
    ];
    for (const r of opts.insecureRegistries ?? []) args.push('--insecure-registry', r);
    for (const m of opts.registryMirrors ?? []) args.push('--registry-mirror', m);
    proc = await startProcess({
      name: 'dockerd',
      file: toolPath('dockerd'),
      args,
      logFile: join(dir, 'dockerd.log'),
      ready: httpResponds({ socketPath: socket, path: '/_ping' }, [200]),
      readyTimeoutMs: 60_000,
      stopTimeoutMs: 20_000,
    });
  } catch (e) {
    if (ownContainerd) await containerd?.stop();
    await tmp.remove();
    throw e;
  }

  const clientEnv: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: clientConfig };
  for (const k of ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']) delete clientEnv[k];

  const docker = (args: readonly string[], runOpts: RunOptions = {}): Promise<RunResult> =>
    run(toolPath('docker'), ['-H', `unix://${socket}`, ...args], {
      timeoutMs: 180_000,
      ...runOpts,
      env: { ...clientEnv, ...runOpts.env },
    });

  return {
    socket,
    dir,
    process: proc,
    docker,
    async login(registry, credentials) {
      await docker(['login', '--username', credentials.username, '--password-stdin', registry], {
        input: credentials.password,
      });
    },
    async load(archive) {
      await docker(['load', '--input', archive]);
    },
    async inspectImage(ref) {
      const out = (await docker(['image', 'inspect', ref])).stdout.toString('utf8');
      const parsed = JSON.parse(out) as DockerImage[];
      const image = parsed[0];
      if (image === undefined) throw new Error(`docker image inspect ${ref} returned nothing`);
      return image;
    },
    async stop() {
      try {
        await proc.stop();
      } finally {
        try {
          if (ownContainerd) await containerd?.stop();
        } finally {
          await tmp.remove();
        }
      }
    },
  };
}
