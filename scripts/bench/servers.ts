/**
 * The servers under test, each on a free loopback port with fresh storage in a temp dir:
 * Keel built (dist/main.js) with production settings, and Debian's docker-registry (CNCF
 * Distribution 2.8, access log on) through the e2e harness. Each is one process whose peak
 * resident memory is read from /proc.
 *
 * Keel's temp dir:
 *   keel.toml   written here: listen, storage paths, log level warn, the named upstream
 *   keel.log    its output (warnings and errors only)
 *   registry/ proxy/ _tmp/ index.db   its storage
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
  /** Log of the process; for Distribution this includes its access log. */
  readonly logFile: string;
  stop(): Promise<void>;
}

const PORT_ATTEMPTS = 5;

/** Peak resident set size (VmHWM) of a live process, in bytes. */
export async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

export interface KeelUpstream {
  name: string;
  url: string;
}

export async function startKeel(upstreams: readonly KeelUpstream[]): Promise<BenchServer> {
  const main = resolve('scripts/keel');
  if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first (npm run bench does)`);
  const dir = await mkdtemp(join(tmpdir(), 'keel-bench-keel-'));
  // Settings come from the file alone: a KEEL_* variable in the caller's environment would win.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KEEL_')));
  try {
    for (let attempt = 1; ; attempt++) {
      const host = `127.0.0.1:${await freePort()}`;
      const config = join(dir, 'keel.toml');
      await writeFile(config, keelToml(host, upstreams));
      const logFile = join(dir, 'keel.log');
      let proc: ManagedProcess;
      try {
        proc = await startProcess({
          name: 'keel',
          // scripts/keel: the same production settings as `npm start`.
          file: main,
          args: ['--config', config],
          env: { ...env, NODE_ENV: 'production' },
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
        blobFile: (root, digest) => {
          const [algorithm = '', hex = ''] = digest.split(':');
          return join(dir, root, 'blobs', algorithm, hex.slice(0, 2), hex);
        },
        async stop() {
          try {
            await proc.stop();
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        },
      };
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

function keelToml(host: string, upstreams: readonly KeelUpstream[]): string {
  const q = (s: string): string => JSON.stringify(s);
  const lines = [
    `listen = ${q(host)}`,
    'registry_storage = "registry"',
    'proxy_storage = "proxy"',
    'temporary_registry_storage = "_tmp"',
    'database = "index.db"',
    '',
    '[log]',
    'level = "warn"',
  ];
  for (const u of upstreams) lines.push('', `[proxy.upstreams.${q(u.name)}]`, `url = ${q(u.url)}`, 'allow_private = true');
  return `${lines.join('\n')}\n`;
}

export async function startBenchDistribution(opts: StartDistributionOptions = {}): Promise<BenchServer> {
  const d = await startDistribution(opts);
  return {
    url: d.url,
    pid: d.process.pid,
    logFile: d.process.logFile,
    // registry/storage/paths.go: blobs live at .../blobs/<algorithm>/<first two hex>/<hex>/data.
    blobFile: (_root, digest) => {
      const [algorithm = '', hex = ''] = digest.split(':');
      return join(d.storageDir, 'docker', 'registry', 'v2', 'blobs', algorithm, hex.slice(0, 2), hex, 'data');
    },
    stop: () => d.stop(),
  };
}
