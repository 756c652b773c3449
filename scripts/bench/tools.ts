/**
 * The external programs the benchmark drives and the Debian packages that ship them. The
 * benchmark installs nothing: a missing program stops it with the package to install.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';

export const BENCH_TOOLS = Object.freeze({
  'docker-registry': { path: '/usr/bin/docker-registry', pkg: 'docker-registry' },
  wrk: { path: '/usr/bin/wrk', pkg: 'wrk' },
  ab: { path: '/usr/bin/ab', pkg: 'apache2-utils' },
  curl: { path: '/usr/bin/curl', pkg: 'curl' },
  setpriv: { path: '/usr/bin/setpriv', pkg: 'util-linux' },
  sync: { path: '/usr/bin/sync', pkg: 'coreutils' },
});

export type BenchTool = keyof typeof BENCH_TOOLS;

export function benchToolPath(name: BenchTool): string {
  return BENCH_TOOLS[name].path;
}

/** Resolves when every tool is installed; otherwise rejects naming each one and its package. */
export async function checkBenchTools(): Promise<void> {
  const missing: BenchTool[] = [];
  for (const name of Object.keys(BENCH_TOOLS) as BenchTool[]) {
    try {
      await access(BENCH_TOOLS[name].path, constants.X_OK);
    } catch {
      missing.push(name);
    }
  }
  if (missing.length === 0) return;
  const what = missing.map((n) => `${n} (${BENCH_TOOLS[n].path}, Debian package ${BENCH_TOOLS[n].pkg})`).join(', ');
  const pkgs = [...new Set(missing.map((n) => BENCH_TOOLS[n].pkg))].sort().join(' ');
  throw new MissingToolsError(`the benchmark needs ${what}. Install with: sudo apt-get install -y ${pkgs}`);
}

export class MissingToolsError extends Error {
  override readonly name = 'MissingToolsError';
}
