/**
 * GC under load: pushes (some sharing a base layer), pulls, tag and manifest deletions and GC
 * runs (grace 1 s, --delete-untagged) all at once for a bounded time. Afterwards every tagged
 * manifest is fully pullable with verified digests, no request got a 5xx, and a last GC past
 * the grace period leaves nothing unreferenced, neither rows nor files.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { runGc } from '../../src/gc/run-gc.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';

const DURATION_MS = 15_000;
let keel: KeelProcess;
let client: Client;
const fivexx: string[] = [];

beforeAll(async () => {
  keel = await startKeel({ toml: '[gc]\ngrace = "1s"\n' });
  // Record every 5xx the server answers during the run.
  const base = new Client(keel.url);
  client = new Client(keel.url);
  client.fetch = async (path: string, init?: RequestInit) => {
    const res = await base.fetch(path, init);
    if (res.status >= 500) fivexx.push(`${init?.method ?? 'GET'} ${path} ${res.status}`);
    return res;
  };
});
afterAll(() => keel.destroy());

const REPOS = ['stress/a', 'stress/b', 'stress/c'];
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;

async function pushImage(repo: string, tag: string, base: Buffer): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const config = await client.pushBlob(repo, JSON.stringify({ architecture: 'amd64', os: 'linux', n: Math.random() }));
    const layers = [await client.pushBlob(repo, base), await client.pushBlob(repo, randomBytes(2048 + Math.floor(Math.random() * 4096)))];
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { ...config, mediaType: 'application/vnd.oci.image.config.v1+json' },
      layers: layers.map((l) => ({ ...l, mediaType: 'application/vnd.oci.image.layer.v1.tar' })),
    };
    const res = await client.fetch(`/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: JSON.stringify(manifest) });
    if (res.status === 201) return;
    // GC (grace 1 s) may have taken a blob uploaded too long before the manifest: push again, as clients do.
    expect(res.status).toBe(400);
  }
  throw new Error(`could not push ${repo}:${tag}`);
}

async function tags(repo: string): Promise<string[]> {
  const res = await client.fetch(`/v2/${repo}/tags/list`);
  return res.status === 200 ? ((await res.json()) as { tags: string[] }).tags : [];
}

/** Pulls a tag completely; false if the manifest or a blob is missing or wrong. */
async function pull(repo: string, tag: string): Promise<boolean> {
  const res = await client.fetch(`/v2/${repo}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
  if (res.status !== 200) return false;
  const manifest = (await res.json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
  for (const d of [manifest.config, ...manifest.layers]) {
    const blob = await client.fetch(`/v2/${repo}/blobs/${d.digest}`);
    if (blob.status !== 200 || sha256(Buffer.from(await blob.arrayBuffer())) !== d.digest) return false;
  }
  return true;
}

test('pushes, pulls, deletions and GC runs at once leave every tagged image intact', async () => {
  const base = randomBytes(8192);
  const until = Date.now() + DURATION_MS;
  const stats = { pushes: 0, pulls: 0, deletes: 0, gcs: 0 };
  let n = 0;
  const loop = async (work: () => Promise<void>): Promise<void> => {
    while (Date.now() < until) await work();
  };
  const gcConfig = keel.config;
  await Promise.all([
    loop(async () => {
      await pushImage(pick(REPOS), `t${n++ % 40}`, base);
      stats.pushes++;
    }),
    loop(async () => {
      await pushImage(pick(REPOS), `u${n++ % 40}`, base);
      stats.pushes++;
    }),
    loop(async () => {
      const repo = pick(REPOS);
      const t = await tags(repo);
      if (t.length > 0) await pull(repo, pick(t)); // a concurrent delete may win: only the end state is asserted
      stats.pulls++;
    }),
    loop(async () => {
      const repo = pick(REPOS);
      const t = await tags(repo);
      if (t.length > 3) {
        await client.fetch(`/v2/${repo}/manifests/${pick(t)}`, { method: 'DELETE' });
        stats.deletes++;
      }
      await new Promise((r) => setTimeout(r, 20));
    }),
    loop(async () => {
      await runGc(gcConfig, { stores: 'registry', dryRun: false, deleteUntagged: true }, { clock: { now: () => Date.now() }, logger: pino({ level: 'silent' }) });
      stats.gcs++;
      await new Promise((r) => setTimeout(r, 200));
    }),
  ]);
  expect(stats.pushes).toBeGreaterThan(20);
  expect(stats.gcs).toBeGreaterThan(5);
  expect(stats.deletes).toBeGreaterThan(5);
  expect(fivexx).toEqual([]);

  for (const repo of REPOS) {
    for (const tag of await tags(repo)) expect([repo, tag, await pull(repo, tag)]).toEqual([repo, tag, true]);
  }

  // A last collection past the grace period leaves nothing unreferenced behind.
  const later = Date.now() + 5_000;
  const config = { ...keel.config, gc: parseConfig('[gc]\ngrace = "1s"\n', 'stress', keel.root).gc };
  await runGc(config, { stores: 'registry', dryRun: false, deleteUntagged: true }, { clock: { now: () => later }, logger: pino({ level: 'silent' }) });
  const db = new Database(keel.config.database, { readonly: true });
  try {
    const unreferenced = db
      .prepare(
        `SELECT COUNT(*) AS n FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.child_digest = b.digest)
         AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)`,
      )
      .get() as { n: number };
    expect(unreferenced.n).toBe(0);
    const untagged = db.prepare('SELECT COUNT(*) AS n FROM manifests m WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.digest = m.digest)').get() as { n: number };
    expect(untagged.n).toBe(0);
    const known = new Set((db.prepare('SELECT digest FROM blobs').all() as Array<{ digest: string }>).map((r) => r.digest));
    const files: string[] = [];
    const root = join(keel.config.registry_storage, 'blobs', 'sha256');
    for (const prefix of await readdir(root)) for (const name of await readdir(join(root, prefix))) files.push(`sha256:${name}`);
    expect(files.filter((f) => !known.has(f))).toEqual([]);
    expect(files.length).toBe(known.size);
  } finally {
    db.close();
  }
  for (const repo of REPOS) {
    for (const tag of await tags(repo)) expect(await pull(repo, tag)).toBe(true);
  }
}, 120_000);
