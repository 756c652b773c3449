// A private containerd daemon and the `ctr` client pointed at it.
//
// Layout under the temp dir (all of it, so nothing lands in /var/lib, /run or /opt):
//   config.toml          written here; root, state, grpc address and the opt plugin path
//   root/  state/  opt/  containerd's persistent, runtime and "opt" directories
//   containerd.sock      gRPC socket (containerd adds containerd.sock.ttrpc beside it)
//   containerd.log       the daemon's stdout+stderr
// The CRI plugin is disabled (it would want CNI networking) and so are snapshotters that
// only produce warnings here. The same daemon can serve dockerd (namespace "moby") and
// direct `ctr` pulls (namespace "default") at once.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { credsArg, type Credentials } from './credentials.js';
import { startProcess, unixSocketAccepts, type ManagedProcess } from './processes.js';
import { run, type RunOptions, type RunResult } from './run.js';
import { makeTempDir } from './temp-dir.js';
import { toolPath } from './tools.js';

export interface CtrPullOptions {
  /** e.g. "linux/arm64"; default: the host platform. */
  platform?: string;
  /** Fetch every child of an index (ctr --all-platforms). */
  allPlatforms?: boolean;
  credentials?: Credentials;
  /**
   * Default true without `hostsDir`: the registries under test speak plain HTTP on loopback.
   * With `hostsDir` the default is false: each hosts.toml entry's scheme decides.
   */
  plainHttp?: boolean;
  /** ctr --hosts-dir: a directory of `<registry host>/hosts.toml` files (mirrors, schemes). */
  hostsDir?: string;
}

export interface Containerd {
  readonly address: string;
  readonly dir: string;
  readonly process: ManagedProcess;
  /** Runs `ctr --address <sock> --namespace <ns> ...args`. */
  ctr(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** `ctr images pull`; the layers are also unpacked (native snapshotter), which checks diff_ids. */
  pull(ref: string, opts?: CtrPullOptions): Promise<void>;
  /** Digest of the manifest or index the image named `ref` points at. */
  imageDigest(ref: string): Promise<string>;
  /** Every blob digest in the content store. */
  contentDigests(): Promise<Set<string>>;
  /** The bytes of one blob from the content store. */
  readContent(digest: string): Promise<Buffer>;
  /** Stops the daemon and deletes its directory. */
  stop(): Promise<void>;
}

export interface StartContainerdOptions {
  /** ctr namespace used by the helper methods; default "default". */
  namespace?: string;
}

function configToml(dir: string, address: string): string {
  const q = (s: string): string => JSON.stringify(s);
  return `version = 2
root = ${q(join(dir, 'root'))}
state = ${q(join(dir, 'state'))}
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = ${q(address)}

[ttrpc]
  address = ""

[debug]
  address = ""

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = ${q(join(dir, 'opt'))}
`;
}

export async function startContainerd(opts: StartContainerdOptions = {}): Promise<Containerd> {
  const tmp = await makeTempDir('ctrd');
  const dir = tmp.path;
  const address = join(dir, 'containerd.sock');
  const namespace = opts.namespace ?? 'default';
  const config = join(dir, 'config.toml');
  let proc: ManagedProcess;
  try {
    await writeFile(config, configToml(dir, address));
    proc = await startProcess({
      name: 'containerd',
      file: toolPath('containerd'),
      args: ['--config', config],
      logFile: join(dir, 'containerd.log'),
      ready: unixSocketAccepts(address),
      readyTimeoutMs: 30_000,
    });
  } catch (e) {
    await tmp.remove();
    throw e;
  }

  const ctr = (args: readonly string[], runOpts?: RunOptions): Promise<RunResult> =>
    run(toolPath('ctr'), ['--address', address, '--namespace', namespace, ...args], runOpts);

  return {
    address,
    dir,
    process: proc,
    ctr,
    async pull(ref, pullOpts = {}) {
      const args = ['images', 'pull', '--snapshotter', 'native'];
      if (pullOpts.plainHttp ?? pullOpts.hostsDir === undefined) args.push('--plain-http');
      if (pullOpts.hostsDir !== undefined) args.push('--hosts-dir', pullOpts.hostsDir);
      if (pullOpts.platform !== undefined) args.push('--platform', pullOpts.platform);
      if (pullOpts.allPlatforms === true) args.push('--all-platforms');
      if (pullOpts.credentials !== undefined) args.push('--user', credsArg(pullOpts.credentials));
      await ctr([...args, ref], { timeoutMs: 180_000 });
    },
    async imageDigest(ref) {
      const out = (await ctr(['images', 'ls'])).stdout.toString('utf8');
      for (const line of out.split('\n').slice(1)) {
        const [name, , digest] = line.trim().split(/\s+/);
        if (name === ref && digest !== undefined) return digest;
      }
      throw new Error(`ctr images ls has no image ${ref}:\n${out}`);
    },
    async contentDigests() {
      const out = (await ctr(['content', 'ls', '--quiet'])).stdout.toString('utf8');
      return new Set(out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('sha256:')));
    },
    async readContent(digest) {
      return (await ctr(['content', 'get', digest])).stdout;
    },
    async stop() {
      try {
        await proc.stop();
      } finally {
        await tmp.remove();
      }
    },
  };
}
