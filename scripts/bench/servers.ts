/**
 * The servers under test, each on a free loopback port with fresh storage in a temp dir:
 * Keel built (dist/main.js) with production settings, and Debian's docker-registry (CNCF
 * Distribution 2.8, access log on) through the e2e harness. Each is one process whose peak
 * resident memory is read from /proc.
 *
 * Keel's temp dir (also its working directory):
 *   keel.toml   written here: listen, storage paths or s3:// URLs, log level warn, the named upstream
 *   keel.log    its output (warnings and errors only)
 *   registry/ proxy/ _tmp/ index.db   its storage (on S3: index.db and _tmp only)
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startDistribution, type StartDistributionOptions } from '../../test/support/e2e/distribution.js';
import { freePort } from '../../test/support/e2e/ports.js';
import { httpResponds, startProcess, type ManagedProcess } from '../../test/support/e2e/processes.js';

export interface BenchServer {
  readonly url: string;
  readonly pid: number;
  /** Where a blob lands once the server has it (a pull-through copy, for instance). */
  blobFile(root: 'registry' | 'proxy', digest: string): string;
  /** Set when the server keeps its blobs in an S3 bucket rather than on disk. */
  readonly s3?: BenchServerS3;
  /** Log of the process; for Distribution this includes its access log. */
  readonly logFile: string;
  stop(): Promise<void>;
}

/** Where an S3-backed server keeps its registry's blobs. */
export interface BenchServerS3 {
  readonly bucket: string;
  /** Key prefix under which its blob objects are (each key holds the digest's hex). */
  readonly blobPrefix: string;
}

/** An S3 server and one bucket of it, for Keel's `[s3]` table. */
export interface KeelS3Storage {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
}

const PORT_ATTEMPTS = 5;

/** Peak resident set size (VmHWM) of a live process, in bytes. */
export async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/**
 * A process's peak RSS over its whole life and over chosen windows. A window resets the
 * kernel's VmHWM (writing 5 to /proc/<pid>/clear_refs; root, or the process's owner) and reads
 * it at the end; the peak before the reset is carried, so `overall()` still covers the whole
 * run.
 */
export class RssPeaks {
  private carried = 0;

  constructor(readonly pid: number) {}

  async overall(): Promise<number> {
    return Math.max(this.carried, await peakRss(this.pid));
  }

  /** Runs `work`; resolves with its result and the peak RSS while it ran (undefined if VmHWM cannot be reset). */
  async during<T>(work: () => Promise<T>): Promise<{ value: T; peak: number | undefined }> {
    this.carried = await this.overall();
    let reset = true;
    try {
      await writeFile(`/proc/${this.pid}/clear_refs`, '5');
    } catch {
      reset = false;
    }
    const value = await work();
    return { value, peak: reset ? await peakRss(this.pid) : undefined };
  }
}

/** A server's stop(): the process by its PID, then its private directory, even when stopping failed. */
export function stopThenRemove(proc: { stop(): Promise<void> }, dir: string): () => Promise<void> {
  return async () => {
    try {
      await proc.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

export interface KeelUpstream {
  name: string;
  url: string;
}

/**
 * Keel on disk, or with `s3` its registry and proxy cache in that bucket
 * (`s3://<bucket>/registry`, `s3://<bucket>/proxy`), redirects on (the default).
 */
export async function startKeel(upstreams: readonly KeelUpstream[], s3?: KeelS3Storage, extraToml = ''): Promise<BenchServer> {
  const main = resolve('scripts/keel');
  if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first (npm run bench does)`);
  const dir = await mkdtemp(join(tmpdir(), 'keel-bench-keel-'));
  // Settings come from the file alone: a KEEL_* variable in the caller's environment would win.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KEEL_')));
  try {
    for (let attempt = 1; ; attempt++) {
      const host = `127.0.0.1:${await freePort()}`;
      const config = join(dir, 'keel.toml');
      await writeFile(config, keelToml(host, upstreams, s3) + extraToml);
      const logFile = join(dir, 'keel.log');
      let proc: ManagedProcess;
      try {
        proc = await startProcess({
          name: 'keel',
          // scripts/keel: the same production settings as `npm start`.
          file: main,
          args: ['--config', config],
          env: { ...env, NODE_ENV: 'production' },
          // Storage paths in keel.toml are relative to it; anything else Keel writes lands here too.
          cwd: dir,
          logFile,
          ready: httpResponds({ url: `http://${host}/v2/` }, [200]),
          readyTimeoutMs: 30_000,
        });
      } catch (e) {
        if (attempt < PORT_ATTEMPTS && String(e).includes('EADDRINUSE')) continue;
        throw e;
      }
      return {
        url: `http://${host}`,
        pid: proc.pid,
        logFile,
        ...(s3 === undefined ? {} : { s3: { bucket: s3.bucket, blobPrefix: 'registry/blobs/' } }),
        blobFile: (root, digest) => {
          const [algorithm = '', hex = ''] = digest.split(':');
          return join(dir, root, 'blobs', algorithm, hex.slice(0, 2), hex);
        },
        stop: stopThenRemove(proc, dir),
      };
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

function keelToml(host: string, upstreams: readonly KeelUpstream[], s3: KeelS3Storage | undefined): string {
  const q = (s: string): string => JSON.stringify(s);
  const lines = [
    `listen = ${q(host)}`,
    `registry_storage = ${q(s3 === undefined ? 'registry' : `s3://${s3.bucket}/registry`)}`,
    `proxy_storage = ${q(s3 === undefined ? 'proxy' : `s3://${s3.bucket}/proxy`)}`,
    'temporary_registry_storage = "_tmp"',
    'database = "index.db"',
    '',
    '[log]',
    'level = "warn"',
  ];
  if (s3 !== undefined) {
    lines.push(
      '',
      '[s3]',
      `endpoint = ${q(s3.endpoint)}`,
      `region = ${q(s3.region)}`,
      'force_path_style = true',
      `access_key_id = ${q(s3.accessKeyId)}`,
      `secret_access_key = ${q(s3.secretAccessKey)}`,
      'redirect = true',
      'redirect_ttl = "15m"',
    );
  }
  for (const u of upstreams) lines.push('', `[proxy.upstreams.${q(u.name)}]`, `url = ${q(u.url)}`, 'allow_private = true');
  return `${lines.join('\n')}\n`;
}

export async function startBenchDistribution(opts: StartDistributionOptions = {}): Promise<BenchServer> {
  const d = await startDistribution(opts);
  return {
    url: d.url,
    pid: d.process.pid,
    logFile: d.process.logFile,
    // The s3 driver keeps the same tree under the bucket's root directory ("/" here);
    // Keel's layout is src/storage/s3/s3-paths.ts.
    ...(opts.s3 === undefined ? {} : { s3: { bucket: opts.s3.bucket, blobPrefix: 'docker/registry/v2/blobs/' } }),
    // registry/storage/paths.go: blobs live at .../blobs/<algorithm>/<first two hex>/<hex>/data.
    blobFile: (_root, digest) => {
      const [algorithm = '', hex = ''] = digest.split(':');
      return join(d.storageDir, 'docker', 'registry', 'v2', 'blobs', algorithm, hex.slice(0, 2), hex, 'data');
    },
    stop: () => d.stop(),
  };
}
