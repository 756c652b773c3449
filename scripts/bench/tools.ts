/**
 * The external programs the benchmark drives. Their paths and Debian packages live in the
 * e2e harness's table (test/support/e2e/tools.ts). The benchmark installs nothing: a missing
 * program stops it with the package to install.
 */
import { describeTools, missingTools, packagesFor, toolPath, type ToolName } from '../../test/support/e2e/tools.js';

/**
 * The Ceph daemons and tools of the S3 server (test/support/s3-server.ts) are among them, and
 * nginx and PostgreSQL for the replica part (test/support/keel-cluster.ts), docker.io for the
 * docker pull part (test/support/e2e/dockerd.ts).
 */
const BENCH_TOOLS = [
  'docker-registry',
  'wrk',
  'ab',
  'curl',
  'setpriv',
  'sync',
  'ceph-mon',
  'ceph-osd',
  'monmaptool',
  'radosgw',
  'radosgw-admin',
  'ceph',
  // The replica part: nginx in front (test/support/nginx.ts), PostgreSQL run as the postgres user.
  'nginx',
  'initdb',
  'pg_ctl',
  'runuser',
  // The docker pull part: Debian's dockerd and docker client, and the containerd dockerd runs on.
  'dockerd',
  'docker',
  'containerd',
] as const satisfies readonly ToolName[];

export type BenchTool = (typeof BENCH_TOOLS)[number];

export function benchToolPath(name: BenchTool): string {
  return toolPath(name);
}

/** Resolves when every tool is installed; otherwise rejects naming each one and its package. */
export async function checkBenchTools(tools: readonly BenchTool[] = BENCH_TOOLS): Promise<void> {
  const missing = await missingTools(tools);
  if (missing.length === 0) return;
  throw new MissingToolsError(`the benchmark needs ${describeTools(missing)}. Install with: sudo apt-get install -y ${packagesFor(missing).join(' ')}`);
}

export class MissingToolsError extends Error {
  override readonly name = 'MissingToolsError';
}
