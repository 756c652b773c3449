// GC during a push/pull stress run through the load balancer of three replicas: the real
// scripts/gc, given replica r0's and replica r1's configuration (same index, same bucket),
// runs in two loops at once while clients push, pull, and push-then-delete through nginx.
// Afterwards every image whose manifest PUT succeeded pulls back complete with verified
// digests, no request got a 5xx, and the collections deleted the churned garbage.
//
// The run ends on counts, not on a clock: pushers go on until each pushed PUSHES images and
// GC has finished GC_RUNS collections, so the collections overlap the pushes by construction.
// The grace period is 1 s (as in test/gc/stress.test.ts): a blob uploaded more than 1 s before
// its manifest may be collected first, and the manifest PUT must then be refused (400), never
// accepted with a missing blob; the client pushes again, as real clients do.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { GC, run, stopAll } from '../support/cli-process.js';
import { clusterDatabase } from '../support/cluster-database.js';
import { startCluster, type KeelCluster } from '../support/keel-cluster.js';
import { Client, OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';

const PUSHERS = 3;
const PUSHES = 12;
const GC_RUNS = 4;
/** scripts/gc's exit code when another collection holds the lock. */
const LOCKED = 75;

let cluster: KeelCluster;
let client: Client;
const fivexx: string[] = [];

beforeAll(async () => {
  cluster = await startCluster({ database: clusterDatabase(), s3MemoryBytes: 1024 ** 3, toml: '[gc]\ngrace = "1s"\n' });
  const base = new Client(cluster.lb.url);
  client = new Client(cluster.lb.url);
  client.fetch = async (path: string, init?: RequestInit) => {
    const res = await base.fetch(path, init);
    if (res.status >= 500) fivexx.push(`${init?.method ?? 'GET'} ${path} ${res.status}`);
    return res;
  };
}, 240_000);
afterAll(async () => {
  await stopAll();
  await cluster?.stop();
}, 120_000);

interface Pushed {
  repo: string;
  tag: string;
  digest: string;
}

async function pushImage(repo: string, tag: string, base: Buffer): Promise<Pushed> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const config = await client.pushBlob(repo, JSON.stringify({ architecture: 'amd64', os: 'linux', tag, n: Math.random() }));
    const layers = [await client.pushBlob(repo, base), await client.pushBlob(repo, randomBytes(2048 + Math.floor(Math.random() * 4096)))];
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { ...config, mediaType: 'application/vnd.oci.image.config.v1+json' },
      layers: layers.map((l) => ({ ...l, mediaType: 'application/vnd.oci.image.layer.v1.tar' })),
    });
    const res = await client.fetch(`/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: manifest });
    if (res.status === 201) return { repo, tag, digest: sha256(manifest) };
    // A blob collected past the grace period before its manifest came: refused, push again.
    expect([repo, tag, res.status]).toEqual([repo, tag, 400]);
  }
  throw new Error(`could not push ${repo}:${tag}`);
}

/** Pulls a manifest by digest and every blob it names; the problems found (none: complete). */
async function pullProblems(p: Pushed): Promise<string[]> {
  const res = await client.fetch(`/v2/${p.repo}/manifests/${p.tag}`, { headers: { Accept: OCI_MANIFEST } });
  if (res.status !== 200) return [`${p.repo}:${p.tag} manifest ${res.status}`];
  const bytes = Buffer.from(await res.arrayBuffer());
  if (sha256(bytes) !== p.digest) return [`${p.repo}:${p.tag} is ${sha256(bytes)}, pushed ${p.digest}`];
  const manifest = JSON.parse(bytes.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
  const problems: string[] = [];
  for (const d of [manifest.config, ...manifest.layers]) {
    const blob = await client.fetch(`/v2/${p.repo}/blobs/${d.digest}`);
    if (blob.status !== 200) problems.push(`${p.repo}:${p.tag} blob ${d.digest} ${blob.status}`);
    else if (sha256(Buffer.from(await blob.arrayBuffer())) !== d.digest) problems.push(`${p.repo}:${p.tag} blob ${d.digest} has other bytes`);
  }
  return problems;
}

interface GcResult {
  code: number | null;
  blobs: number;
  manifests: number;
  /** What a failed run wrote on stderr. */
  stderr?: string;
}

async function gcOnce(configFile: string, cwd: string, grace = '1s'): Promise<GcResult> {
  const gc = run(GC, ['--config', configFile, '--store', 'registry', '--delete-untagged', '--grace', grace, '--json'], { cwd });
  const code = await gc.exited;
  if (code !== 0) return { code, blobs: 0, manifests: 0, stderr: `${gc.stderr()}${gc.stdout()}`.slice(-2000) };
  const line = gc.stdout().trim().split('\n').pop() ?? '';
  const summary = JSON.parse(line) as { stores: Array<{ blobs: number; manifests: number }> };
  return { code, blobs: summary.stores.reduce((n, s) => n + s.blobs, 0), manifests: summary.stores.reduce((n, s) => n + s.manifests, 0) };
}

test('scripts/gc from two replicas\' configs during pushes, pulls and deletions through the balancer: every pushed image pulls back complete', async () => {
  const base = randomBytes(8192);
  const kept: Pushed[] = [];
  const gcResults: GcResult[] = [];
  const gcDone = (): boolean => gcResults.filter((r) => r.code === 0).length >= GC_RUNS;
  let pushersDone = 0;
  /** A collection that failed (not "locked") ends the run at once: the pushers would wait for GC_RUNS forever. */
  const gcFailed = (): boolean => gcResults.some((r) => r.code !== 0 && r.code !== LOCKED);
  const stressing = (): boolean => pushersDone < PUSHERS && !gcFailed();

  const pusher = async (p: number): Promise<void> => {
    for (let i = 0; (i < PUSHES || !gcDone()) && !gcFailed(); i++) kept.push(await pushImage(`ha/gc${p}`, `p${p}-${i}`, base));
    pushersDone++;
  };
  const puller = async (): Promise<void> => {
    while (stressing()) {
      const p = kept[Math.floor(Math.random() * kept.length)];
      // A pull during the run must already be complete: these images are never deleted.
      if (p) expect(await pullProblems(p)).toEqual([]);
      else await new Promise((r) => setTimeout(r, 10));
    }
  };
  let churned = 0;
  const churner = async (): Promise<void> => {
    while (stressing()) {
      const pushed = await pushImage('ha/churn', `c${churned}`, randomBytes(4096));
      const del = await client.fetch(`/v2/ha/churn/manifests/${pushed.digest}`, { method: 'DELETE' });
      expect(del.status).toBe(202);
      churned++;
    }
  };
  const collector = async (replica: number): Promise<void> => {
    const r = cluster.replicas[replica];
    if (!r) throw new Error(`no replica ${replica}`);
    while (stressing()) gcResults.push(await gcOnce(r.configFile, cluster.dir));
  };
  await Promise.all([...Array.from({ length: PUSHERS }, (_, p) => pusher(p)), puller(), churner(), collector(0), collector(1)]);

  expect(fivexx).toEqual([]);
  // Each run either collected or found the other holding the lock, nothing else.
  expect(gcResults.filter((r) => r.code !== 0 && r.code !== LOCKED)).toEqual([]);
  expect(gcResults.filter((r) => r.code === 0).length).toBeGreaterThanOrEqual(GC_RUNS);
  expect(churned).toBeGreaterThan(0);
  // A last collection, nothing running any more, without a grace period: the churned images are garbage and go.
  const last = await gcOnce(cluster.replicas[0]?.configFile ?? '', cluster.dir, '0s');
  expect(last.code).toBe(0);
  expect(gcResults.reduce((n, r) => n + r.blobs, last.blobs)).toBeGreaterThan(0);

  expect(kept.length).toBeGreaterThanOrEqual(PUSHERS * PUSHES);
  const problems: string[] = [];
  for (const p of kept) problems.push(...(await pullProblems(p)));
  expect(problems).toEqual([]);
  // Every replica, asked directly, serves them too.
  for (const r of cluster.replicas) {
    const direct = new Client(r.url);
    for (const p of kept.slice(0, 6)) {
      const res = await direct.fetch(`/v2/${p.repo}/manifests/${p.tag}`, { headers: { Accept: OCI_MANIFEST } });
      expect([r.name, p.tag, res.status]).toEqual([r.name, p.tag, 200]);
    }
  }
}, 600_000);
