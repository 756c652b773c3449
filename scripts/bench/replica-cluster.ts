/**
 * Three Keel replicas for the benchmark, or the reason they cannot be measured: the HA tests'
 * deployment (test/support/keel-cluster.ts), reused as it is: one PostgreSQL 15
 * (test/support/cluster-database.ts; TEST_CLUSTER_DATABASE=sqlite would put one shared SQLite
 * file there instead, and the report then says so), one bucket on a Ceph RGW of its own, Debian's
 * nginx round-robin in front, each replica with the bench's upstream as a named proxy upstream.
 * Every process is the cluster's child and is stopped by its PID (KeelCluster.stop).
 */
import { resolve } from 'node:path';
import { clusterDatabase } from '../../test/support/cluster-database.js';
import { startCluster, type KeelCluster } from '../../test/support/keel-cluster.js';
import type { KeelUpstream } from './servers.js';
import { MiB } from './settings.js';

export type ReplicaCluster = { cluster: KeelCluster } | { notRun: string };

/** The cluster's own RGW keeps objects in RAM: room for the herd blob and the small images. */
const CLUSTER_S3_BYTES = 2048 * MiB;

export async function startReplicaCluster(upstream: KeelUpstream): Promise<ReplicaCluster> {
  // PostgreSQL refuses to run as root and the harness starts it as the postgres user.
  if (process.getuid?.() !== 0) return { notRun: 'PostgreSQL is started as the postgres user (runuser), which needs root: run the bench as root' };
  // The harness runs scripts/keel of the build named here (test/support/build.ts; jest's global
  // setup points it at a copy): this checkout's, which `npm run bench` has just built and the
  // single Keel runs too.
  process.env.TEST_KEEL_BUILD = resolve('.');
  // The replicas inherit this environment: settings come from their files alone, as for the
  // single Keel (servers.ts), since a KEEL_* variable would win over the file.
  for (const name of Object.keys(process.env)) if (name.startsWith('KEEL_')) delete process.env[name];
  // A build that cannot run as replicas is a failure, not a column left out.
  const cluster = await startCluster({
    database: clusterDatabase(),
    s3MemoryBytes: CLUSTER_S3_BYTES,
    toml: `[proxy.upstreams.${JSON.stringify(upstream.name)}]\nurl = ${JSON.stringify(upstream.url)}\nallow_private = true\ntimeout = "10m"\n`,
  });
  return { cluster };
}
