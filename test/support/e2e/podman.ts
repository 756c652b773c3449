// A podman with all of its state in a private temp dir.
//
// Layout under the temp dir:
//   containers.conf   CONTAINERS_CONF: cgroupfs (no systemd here), file events, tmp dirs and
//                     CNI config dir moved here so /run/libpod and /etc/cni stay untouched
//   storage.conf      CONTAINERS_STORAGE_CONF: vfs driver, graphroot/runroot below
//   registries.conf   CONTAINERS_REGISTRIES_CONF: no search registries, so every name used
//                     must be fully qualified (host:port/repo:tag)
//   policy.json       --signature-policy for pull/push: accept anything
//   auth.json         REGISTRY_AUTH_FILE: where `podman login` writes
//   root/ runroot/ tmp/
// Known leak: containers/image keeps its blob-info cache in /var/lib/containers/cache when
// running as root, and podman 4.3 offers no setting to move it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { credsArg, type Credentials } from './credentials.js';
import { run, type RunOptions, type RunResult } from './run.js';
import { makeTempDir } from './temp-dir.js';
import { toolPath } from './tools.js';

export interface PodmanTransferOptions {
  credentials?: Credentials;
  /** Default false: the registries under test speak plain HTTP on loopback. */
  tlsVerify?: boolean;
}

export interface PodmanPullOptions extends PodmanTransferOptions {
  /** e.g. "linux/arm64"; default: the host platform. */
  platform?: string;
}

export interface PodmanPushOptions extends PodmanTransferOptions {
  /** Manifest type to write: "oci" or "v2s2"; default: podman's choice. */
  format?: 'oci' | 'v2s2';
}

/** The parts of `podman image inspect` the tests look at. */
export interface PodmanImage {
  Id: string;
  Digest: string;
  RepoTags: string[];
  RepoDigests: string[];
  Architecture: string;
  Os: string;
  RootFS: { Type: string; Layers: string[] };
}

export interface Podman {
  readonly dir: string;
  /** Runs `podman --root ... --runroot ... --storage-driver vfs ...args` with the private env. */
  podman(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  pull(ref: string, opts?: PodmanPullOptions): Promise<void>;
  push(source: string, dest: string, opts?: PodmanPushOptions): Promise<void>;
  inspectImage(ref: string): Promise<PodmanImage>;
  /** Deletes all of podman's state. */
  remove(): Promise<void>;
}

const POLICY = `${JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }, null, 2)}\n`;

export async function createPodman(): Promise<Podman> {
  const tmp = await makeTempDir('podman');
  const dir = tmp.path;
  const q = (s: string): string => JSON.stringify(s);
  const root = join(dir, 'root');
  const runroot = join(dir, 'runroot');
  const tmpDir = join(dir, 'tmp');
  const policy = join(dir, 'policy.json');
  try {
    await mkdir(tmpDir);
    await mkdir(join(dir, 'cni'));
    await writeFile(
      join(dir, 'containers.conf'),
      `[network]
network_backend = "cni"
network_config_dir = ${q(join(dir, 'cni'))}

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = ${q(join(dir, 'events.log'))}
tmp_dir = ${q(tmpDir)}
image_copy_tmp_dir = ${q(tmpDir)}
static_dir = ${q(join(root, 'libpod'))}
volume_path = ${q(join(root, 'volumes'))}
`,
    );
    await writeFile(
      join(dir, 'storage.conf'),
      `[storage]
driver = "vfs"
graphroot = ${q(root)}
runroot = ${q(runroot)}
`,
    );
    await writeFile(join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
    await writeFile(policy, POLICY);
    await writeFile(join(dir, 'auth.json'), '{}\n');
  } catch (e) {
    await tmp.remove();
    throw e;
  }

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
    REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
    TMPDIR: tmpDir,
  };

  const podman = (args: readonly string[], opts: RunOptions = {}): Promise<RunResult> =>
    run(
      toolPath('podman'),
      ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs', '--cgroup-manager=cgroupfs', '--events-backend=file', ...args],
      { timeoutMs: 180_000, ...opts, env: { ...env, ...opts.env } },
    );

  const transferArgs = (o: PodmanTransferOptions): string[] => {
    const args = [`--tls-verify=${String(o.tlsVerify ?? false)}`, '--signature-policy', policy];
    if (o.credentials !== undefined) args.push('--creds', credsArg(o.credentials));
    return args;
  };

  return {
    dir,
    podman,
    async pull(ref, opts = {}) {
      const args = ['pull', '--quiet', ...transferArgs(opts)];
      if (opts.platform !== undefined) args.push('--platform', opts.platform);
      await podman([...args, ref]);
    },
    async push(source, dest, opts = {}) {
      const args = ['push', '--quiet', ...transferArgs(opts)];
      if (opts.format !== undefined) args.push('--format', opts.format);
      await podman([...args, source, dest]);
    },
    async inspectImage(ref) {
      const out = (await podman(['image', 'inspect', ref])).stdout.toString('utf8');
      const image = (JSON.parse(out) as PodmanImage[])[0];
      if (image === undefined) throw new Error(`podman image inspect ${ref} returned nothing`);
      return image;
    },
    remove: () => tmp.remove(),
  };
}
