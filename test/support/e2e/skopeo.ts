// skopeo with a private temp dir, for moving images between OCI layouts, docker-archives
// and registries without a daemon.
//
// Layout under the temp dir:
//   tmp/              --tmpdir (big blobs are staged here, not in /var/tmp)
//   registries.d/     --registries.d, empty: no host-wide signature-storage settings
//   registries.conf   CONTAINERS_REGISTRIES_CONF: no search registries, no mirrors
//   auth.json         REGISTRY_AUTH_FILE
// Every command runs with --insecure-policy (no signature policy). TLS verification is off
// by default because the registries under test speak plain HTTP on loopback. Like podman,
// skopeo keeps its blob-info cache in /var/lib/containers/cache as root; no flag moves it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { credsArg, type Credentials } from './credentials.js';
import { run, type RunOptions, type RunResult } from './run.js';
import { makeTempDir } from './temp-dir.js';
import { toolPath } from './tools.js';

export interface SkopeoCopyOptions {
  /** Copy every child of an index (--all), not just the host platform's image. */
  all?: boolean;
  /** Fail instead of converting: the destination must get the same digests (--preserve-digests). */
  preserveDigests?: boolean;
  /** Manifest type to write: "oci", "v2s2" (--format). */
  format?: 'oci' | 'v2s2';
  srcCredentials?: Credentials;
  destCredentials?: Credentials;
  /** Default false, for both ends. */
  tlsVerify?: boolean;
}

export interface SkopeoInspectOptions {
  credentials?: Credentials;
  tlsVerify?: boolean;
  /** Return the raw config blob instead of the manifest (--config --raw). */
  config?: boolean;
}

export interface Skopeo {
  readonly dir: string;
  /** Runs `skopeo --insecure-policy --tmpdir ... --registries.d ... ...args`. */
  skopeo(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** `skopeo copy src dest`, both full transport references (oci:DIR:TAG, docker://HOST/REPO:TAG, ...). */
  copy(src: string, dest: string, opts?: SkopeoCopyOptions): Promise<void>;
  /** The manifest (or index, or config) bytes exactly as the source serves them. */
  inspectRaw(ref: string, opts?: SkopeoInspectOptions): Promise<Buffer>;
  /** Deletes skopeo's private directory. */
  remove(): Promise<void>;
}

export async function createSkopeo(): Promise<Skopeo> {
  const tmp = await makeTempDir('skopeo');
  const dir = tmp.path;
  const tmpDir = join(dir, 'tmp');
  const registriesD = join(dir, 'registries.d');
  try {
    await mkdir(tmpDir);
    await mkdir(registriesD);
    await writeFile(join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
    await writeFile(join(dir, 'auth.json'), '{}\n');
  } catch (e) {
    await tmp.remove();
    throw e;
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
    REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
    TMPDIR: tmpDir,
  };

  const skopeo = (args: readonly string[], opts: RunOptions = {}): Promise<RunResult> =>
    run(toolPath('skopeo'), ['--insecure-policy', '--tmpdir', tmpDir, '--registries.d', registriesD, ...args], {
      timeoutMs: 180_000,
      ...opts,
      env: { ...env, ...opts.env },
    });

  return {
    dir,
    skopeo,
    async copy(src, dest, opts = {}) {
      const tls = String(opts.tlsVerify ?? false);
      const args = ['copy', '--quiet', `--src-tls-verify=${tls}`, `--dest-tls-verify=${tls}`];
      if (opts.all === true) args.push('--all');
      if (opts.preserveDigests === true) args.push('--preserve-digests');
      if (opts.format !== undefined) args.push('--format', opts.format);
      if (opts.srcCredentials !== undefined) args.push('--src-creds', credsArg(opts.srcCredentials));
      if (opts.destCredentials !== undefined) args.push('--dest-creds', credsArg(opts.destCredentials));
      await skopeo([...args, src, dest]);
    },
    async inspectRaw(ref, opts = {}) {
      const args = ['inspect', '--raw', `--tls-verify=${String(opts.tlsVerify ?? false)}`];
      if (opts.config === true) args.push('--config');
      if (opts.credentials !== undefined) args.push('--creds', credsArg(opts.credentials));
      return (await skopeo([...args, ref])).stdout;
    },
    remove: () => tmp.remove(),
  };
}
