// Which external programs the e2e tests drive, where Debian puts them, and how to get them.
//
// Binaries are always called by absolute path: /usr/local/bin/docker on the dev machines
// is a newer client than Debian's dockerd 20.10, so `docker` from PATH is the wrong one.
// A missing tool is installed with apt-get when we are root (a fresh CI machine), and is
// otherwise an error that names the binary and the package: e2e tests never skip quietly.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { CommandError, run } from './run.js';

export type ToolName =
  | 'dockerd'
  | 'docker'
  | 'containerd'
  | 'ctr'
  | 'runc'
  | 'podman'
  | 'skopeo'
  | 'docker-registry'
  | 'umoci'
  | 'htpasswd'
  | 'ab'
  | 'wrk'
  | 'curl'
  | 'openssl'
  | 'setpriv'
  | 'unshare'
  | 'nginx'
  | 'sync'
  | 'mmdebstrap'
  | 'ceph-mon'
  | 'ceph-osd'
  | 'monmaptool'
  | 'radosgw'
  | 'radosgw-admin'
  | 'ceph'
  | 'initdb'
  | 'pg_ctl'
  | 'runuser'
  | 'chromium';

interface Tool {
  path: string;
  /** Debian (bookworm) package that ships it. */
  pkg: string;
}

export const TOOLS: Readonly<Record<ToolName, Tool>> = Object.freeze({
  dockerd: { path: '/usr/sbin/dockerd', pkg: 'docker.io' },
  docker: { path: '/usr/bin/docker', pkg: 'docker.io' },
  containerd: { path: '/usr/bin/containerd', pkg: 'containerd' },
  ctr: { path: '/usr/bin/ctr', pkg: 'containerd' },
  runc: { path: '/usr/sbin/runc', pkg: 'runc' },
  podman: { path: '/usr/bin/podman', pkg: 'podman' },
  skopeo: { path: '/usr/bin/skopeo', pkg: 'skopeo' },
  'docker-registry': { path: '/usr/bin/docker-registry', pkg: 'docker-registry' },
  umoci: { path: '/usr/bin/umoci', pkg: 'umoci' },
  htpasswd: { path: '/usr/bin/htpasswd', pkg: 'apache2-utils' },
  ab: { path: '/usr/bin/ab', pkg: 'apache2-utils' },
  wrk: { path: '/usr/bin/wrk', pkg: 'wrk' },
  curl: { path: '/usr/bin/curl', pkg: 'curl' },
  openssl: { path: '/usr/bin/openssl', pkg: 'openssl' },
  setpriv: { path: '/usr/bin/setpriv', pkg: 'util-linux' },
  unshare: { path: '/usr/bin/unshare', pkg: 'util-linux' },
  nginx: { path: '/usr/sbin/nginx', pkg: 'nginx' },
  sync: { path: '/usr/bin/sync', pkg: 'coreutils' },
  mmdebstrap: { path: '/usr/bin/mmdebstrap', pkg: 'mmdebstrap' },
  // Ceph for the S3 test server (test/support/s3-server.ts); monmaptool comes with ceph-mon.
  'ceph-mon': { path: '/usr/bin/ceph-mon', pkg: 'ceph-mon' },
  'ceph-osd': { path: '/usr/bin/ceph-osd', pkg: 'ceph-osd' },
  monmaptool: { path: '/usr/bin/monmaptool', pkg: 'ceph-mon' },
  radosgw: { path: '/usr/bin/radosgw', pkg: 'radosgw' },
  'radosgw-admin': { path: '/usr/bin/radosgw-admin', pkg: 'ceph-common' },
  ceph: { path: '/usr/bin/ceph', pkg: 'ceph-common' },
  // PostgreSQL 15 for the PostgreSQL index tests (test/support/postgres.ts), run as the postgres user.
  initdb: { path: '/usr/lib/postgresql/15/bin/initdb', pkg: 'postgresql' },
  pg_ctl: { path: '/usr/lib/postgresql/15/bin/pg_ctl', pkg: 'postgresql' },
  runuser: { path: '/usr/sbin/runuser', pkg: 'util-linux' },
  // The web UI's browser tests (test/support/browser.ts), driven headless by playwright-core.
  chromium: { path: '/usr/bin/chromium', pkg: 'chromium' },
});

export function toolPath(name: ToolName): string {
  return TOOLS[name].path;
}

/** Long enough for a cold install of docker.io + podman on a 2-core machine. */
export const TOOL_INSTALL_TIMEOUT_MS = 15 * 60_000;

const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
/** Wait for a dpkg lock held by another apt run instead of failing at once. */
const APT_LOCK_WAIT = ['-o', 'DPkg::Lock::Timeout=600'];

let aptUpdated: Promise<void> | undefined;

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The named tools that are not installed (not executable at their path). */
export async function missingTools(names: readonly ToolName[]): Promise<ToolName[]> {
  const missing: ToolName[] = [];
  for (const name of names) if (!(await isExecutable(TOOLS[name].path))) missing.push(name);
  return missing;
}

/** Each tool with its path and package, for a message. */
export function describeTools(names: readonly ToolName[]): string {
  return names.map((n) => `${n} (${TOOLS[n].path}, Debian package ${TOOLS[n].pkg})`).join(', ');
}

/** The Debian packages that ship the named tools, sorted, each once. */
export function packagesFor(names: readonly ToolName[]): string[] {
  return [...new Set(names.map((n) => TOOLS[n].pkg))].sort();
}

/** apt-get update also takes a lock; retry while another apt holds it. */
async function aptGet(args: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await run('apt-get', [...APT_LOCK_WAIT, ...args], { env: APT_ENV, timeoutMs: TOOL_INSTALL_TIMEOUT_MS });
      return;
    } catch (e) {
      const locked = e instanceof CommandError && /Could not get lock|Unable to lock/.test(e.result.stderr);
      if (!locked || attempt >= 20) throw e;
      await new Promise((r) => setTimeout(r, 15_000));
    }
  }
}

/**
 * Makes sure every named tool is installed, installing the missing ones with apt-get when
 * running as root. Throws an Error naming each missing binary and its package otherwise.
 */
export async function ensureTools(names: readonly ToolName[]): Promise<void> {
  const missing = await missingTools(names);
  if (missing.length === 0) return;
  const pkgs = packagesFor(missing);
  if (process.getuid?.() !== 0) {
    throw new Error(
      `tests need ${describeTools(missing)}; not root, so not installing. ` +
        `Run: sudo apt-get install -y --no-install-recommends ${pkgs.join(' ')}`,
    );
  }
  try {
    aptUpdated ??= aptGet(['update']);
    await aptUpdated;
    await aptGet(['install', '-y', '--no-install-recommends', ...pkgs]);
  } catch (e) {
    aptUpdated = undefined;
    throw new Error(`tests need ${describeTools(missing)}; apt-get install ${pkgs.join(' ')} failed:\n${String(e)}`);
  }
  const still = await missingTools(missing);
  if (still.length > 0) {
    throw new Error(`tests need ${describeTools(still)}; apt-get install ${pkgs.join(' ')} did not provide them`);
  }
}
