// Real clients through the load balancer of three Keel replicas (nginx round-robin, no sticky
// sessions; one shared index, one bucket on a real Ceph RGW): the round trips every registry
// under test passes (test/support/e2e/round-trips.ts: skopeo, docker and podman push; docker,
// podman and containerd pull bit-identical; a multi-arch index), then proof from the replicas'
// own request logs that the clients' pushes were spread: upload sessions whose requests
// (POST, PATCH, PUT) were served by more than one replica, and every replica served some.
import { expect, test } from '@jest/globals';
import { describeRoundTrips } from '../support/e2e/round-trips.js';
import { clusterDatabase } from '../support/cluster-database.js';
import { startCluster, type KeelCluster, type LogEntry } from '../support/keel-cluster.js';

let cluster: KeelCluster;

/** `/v2/<name>/blobs/uploads/<id>` → id. */
const UPLOAD = /^\/v2\/.+\/blobs\/uploads\/([^/]+)$/;

describeRoundTrips(
  'e2e: real clients through nginx in front of three Keel replicas',
  async () => {
    cluster = await startCluster({ database: clusterDatabase(), s3MemoryBytes: 1024 ** 3 });
    return { host: cluster.lb.host, url: cluster.lb.url, stop: () => cluster.stop() };
  },
  () => {
    test('the clients\' upload sessions were served by several replicas each, and every replica served uploads', async () => {
      /** upload id → the replicas that logged a PATCH or PUT of it. */
      const sessions = new Map<string, Set<string>>();
      const patchesBy = new Map<string, number>();
      for (const r of cluster.replicas) {
        const lines = (await r.logs()).filter((e: LogEntry) => e.msg === 'request' && (e.method === 'PATCH' || e.method === 'PUT'));
        for (const e of lines) {
          const id = UPLOAD.exec(String(e.path))?.[1];
          if (id === undefined) continue;
          sessions.set(id, (sessions.get(id) ?? new Set()).add(r.name));
          if (e.method === 'PATCH') patchesBy.set(r.name, (patchesBy.get(r.name) ?? 0) + 1);
        }
      }
      // skopeo, docker and podman pushed 3 + 2 + 3 + 4 layers and configs at least.
      expect(sessions.size).toBeGreaterThan(10);
      const spread = [...sessions.values()].filter((replicas) => replicas.size > 1);
      expect(spread.length).toBeGreaterThan(0);
      expect([...patchesBy.keys()].sort()).toEqual(cluster.replicas.map((r) => r.name).sort());
    });
  },
);
