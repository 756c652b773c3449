/**
 * Fills a stopped Keel's SQLite index with a large registry and proxy cache, straight into
 * the tables (the shortcut of this bench: a million tags through HTTP would take hours). The
 * rows are shaped as Keel's own writes leave them (sqlite-index.ts, sqlite-proxy-index.ts):
 *
 *   local registry, per repository `org-NNN/app-NNNNNN` (names sort across 1,000 orgs):
 *     - `tagsPerRepo` tags v1.0.<k>, each pointing at a manifest of its own (a build per tag);
 *     - every manifest has a blob row of its own content and references three blobs: a config
 *       and an app layer of its own, and one of 1,000 base layers every repository shares;
 *     - each repository links the blobs its manifests reference (a push links what it uploads);
 *     - garbage for GC: one repository in 100 also links a layer no manifest references (an
 *       abandoned push), and one manifest in 100 is untagged (kept unless --delete-untagged).
 *   proxy cache, upstream `fill-upstream`: `proxyBlobs` blob rows, each with the repository
 *     it was fetched for, 10 per cached manifest (with its tag); last access spread over
 *     60 days, so cache retention (gc.proxy.max_age, 30 days) has half of them to evict.
 *
 * No ANALYZE: Keel never runs one, so the planner sees what it sees in production.
 * Every row is older than GC's grace period. Digests are sha256 of a label, sizes are drawn
 * from a fixed seed, so two runs build the same index. Inserts go in large transactions.
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { encodeCursor } from '../../src/registry/browse-cursor.js';
import { RECOUNT_STORE_TOTALS } from '../../src/storage/sqlite/migrations/007-scale.js';
import { RECOUNT_BROWSE_FIGURES } from '../../src/storage/sqlite/migrations/010-browse.js';
import { seededRandom } from '../../test/support/seeded-random.js';

export interface FillSize {
  repos: number;
  tagsPerRepo: number;
  proxyBlobs: number;
}

export interface FillCounts {
  repositories: number;
  tags: number;
  manifests: number;
  references: number;
  blobs: number;
  links: number;
  garbageLinks: number;
  proxyBlobs: number;
  proxyManifests: number;
  proxyTags: number;
  proxyBlobRepositories: number;
  seconds: number;
}

/** Digests of the blobs GC of this fill deletes (abandoned pushes): the bench writes their files. */
export interface FillResult {
  counts: FillCounts;
  garbageDigests: string[];
  /** A sample of live blob digests (files written too, so the orphan scan has files to walk). */
  liveSample: string[];
  /** Proxy blob digests, one in 100, for the proxy store's sample of files. */
  proxySample: string[];
  /** Name of the repository at the middle of the catalog. */
  middleRepo: string;
}

const DAY = 86_400_000;
const BASE_LAYERS = 1_000;
const PROXY_PER_MANIFEST = 10;
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

export const fillRepoName = (r: number): string => `org-${String(r % 1000).padStart(3, '0')}/app-${String(r).padStart(6, '0')}`;
const digestOf = (label: string): string => `sha256:${createHash('sha256').update(label).digest('hex')}`;


/** Rows per transaction: large enough that commits cost little, small enough to keep memory flat. */
const CHUNK_REPOS = 2_000;

export function fillIndex(db: Database.Database, size: FillSize, now: number): FillResult {
  const started = performance.now();
  const rnd = seededRandom(19);
  const old = now - 3 * DAY;
  // A bench's fill, not Keel's way of writing: the rollback journal in memory (better-sqlite3's
  // defensive mode refuses OFF), no fsync, and a cache that holds the B-trees (random digests
  // land on every page); Keel reopens the file in WAL mode.
  db.pragma('journal_mode = MEMORY');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -3000000');
  // Secondary indexes are dropped and built again at the end (a sort each, much faster than
  // millions of random inserts), whichever migrations made them.
  // The triggers that keep store_totals go too (their lookups need those indexes); the totals
  // are counted again from the tables at the end.
  const indexes = db.prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").all();
  const triggers = db.prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all();
  for (const i of indexes) db.exec(`DROP INDEX "${i.name}"`);
  for (const t of triggers) db.exec(`DROP TRIGGER "${t.name}"`);
  const s = {
    repo: db.prepare<[string, number]>('INSERT INTO repositories (name, created_at) VALUES (?, ?)'),
    repoId: db.prepare<[string], { id: number }>('SELECT id FROM repositories WHERE name = ?'),
    blob: db.prepare<[string, number, number]>('INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    link: db.prepare<[number, string, number]>('INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    manifest: db.prepare<[number, string, string, number, number]>(
      'INSERT INTO manifests (repository_id, digest, media_type, size, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
    ref: db.prepare<[number, string, string]>("INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, kind) VALUES (?, ?, ?, 'blob')"),
    tag: db.prepare<[number, string, string, number]>('INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?)'),
    pBlob: db.prepare<[string, string, number, number, number]>(
      'INSERT INTO proxy_blobs (upstream, digest, size, fetched_at, last_access) VALUES (?, ?, ?, ?, ?)',
    ),
    pBlobRepo: db.prepare<[string, string, string, number]>(
      'INSERT INTO proxy_blob_repositories (upstream, repository, digest, created_at) VALUES (?, ?, ?, ?)',
    ),
    pManifest: db.prepare<[string, string, string, string, number, number, number]>(
      'INSERT INTO proxy_manifests (upstream, repository, digest, media_type, size, fetched_at, last_access) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    pRef: db.prepare<[string, string, string, string]>(
      "INSERT INTO proxy_manifest_references (upstream, repository, manifest_digest, child_digest, kind) VALUES (?, ?, ?, ?, 'blob')",
    ),
    pTag: db.prepare<[string, string, string, string, number, number]>(
      'INSERT INTO proxy_tags (upstream, repository, tag, digest, checked_at, last_access) VALUES (?, ?, ?, ?, ?, ?)',
    ),
  };
  const counts: FillCounts = {
    repositories: 0,
    tags: 0,
    manifests: 0,
    references: 0,
    blobs: 0,
    links: 0,
    garbageLinks: 0,
    proxyBlobs: 0,
    proxyManifests: 0,
    proxyTags: 0,
    proxyBlobRepositories: 0,
    seconds: 0,
  };
  const garbageDigests: string[] = [];
  const liveSample: string[] = [];
  const proxySample: string[] = [];
  const blob = (digest: string, bytes: number): void => {
    counts.blobs += s.blob.run(digest, bytes, old).changes;
  };
  const link = (repoId: number, digest: string): void => {
    counts.links += s.link.run(repoId, digest, old).changes;
  };
  const layerSize = (): number => Math.floor(1_000_000 + rnd() * 50_000_000);

  const fillRepos = db.transaction((from: number, to: number) => {
    for (let r = from; r < to; r++) {
      const name = fillRepoName(r);
      s.repo.run(name, old);
      counts.repositories++;
      const repoId = (s.repoId.get(name) as { id: number }).id;
      for (let k = 0; k < size.tagsPerRepo; k++) {
        const config = digestOf(`config ${r} ${k}`);
        const layer = digestOf(`layer ${r} ${k}`);
        const base = digestOf(`base ${(r * 7 + k) % BASE_LAYERS}`);
        const manifest = digestOf(`manifest ${r} ${k}`);
        blob(config, Math.floor(1_000 + rnd() * 8_000));
        blob(layer, layerSize());
        blob(base, 30_000_000);
        for (const d of [config, layer, base]) link(repoId, d);
        const manifestSize = Math.floor(500 + rnd() * 600);
        blob(manifest, manifestSize);
        s.manifest.run(repoId, manifest, MANIFEST_TYPE, manifestSize, old);
        counts.manifests++;
        for (const d of [config, layer, base]) s.ref.run(repoId, manifest, d);
        counts.references += 3;
        // One manifest in 100 lost its tag (pushed over, never deleted).
        if ((r * size.tagsPerRepo + k) % 100 !== 99) {
          s.tag.run(repoId, `v1.0.${k}`, manifest, old);
          counts.tags++;
        }
        if (liveSample.length < 10_000 && (r + k) % 50 === 0) liveSample.push(layer);
      }
      if (r % 100 === 42) {
        const abandoned = digestOf(`abandoned ${r}`);
        blob(abandoned, layerSize());
        link(repoId, abandoned);
        counts.garbageLinks++;
        garbageDigests.push(abandoned);
      }
    }
  });
  for (let r = 0; r < size.repos; r += CHUNK_REPOS) fillRepos(r, Math.min(size.repos, r + CHUNK_REPOS));

  const upstream = 'fill-upstream';
  const fillProxy = db.transaction((from: number, to: number) => {
    for (let m = from; m < to; m++) {
      const repository = `library/image-${String(m % 5_000).padStart(4, '0')}`;
      const manifest = digestOf(`proxy manifest ${m}`);
      const lastAccess = now - Math.floor(rnd() * 60 * DAY);
      const manifestSize = Math.floor(500 + rnd() * 2_000);
      s.pManifest.run(upstream, repository, manifest, MANIFEST_TYPE, manifestSize, lastAccess - DAY, lastAccess);
      counts.proxyManifests++;
      for (let b = 0; b < PROXY_PER_MANIFEST; b++) {
        const digest = digestOf(`proxy blob ${m} ${b}`);
        s.pBlob.run(upstream, digest, layerSize(), lastAccess - DAY, lastAccess);
        s.pBlobRepo.run(upstream, repository, digest, lastAccess - DAY);
        s.pRef.run(upstream, repository, manifest, digest);
        counts.proxyBlobs++;
        if (counts.proxyBlobs % 100 === 1) proxySample.push(digest);
        counts.proxyBlobRepositories++;
      }
      s.pTag.run(upstream, repository, `t${m}`, manifest, lastAccess - DAY, lastAccess);
      counts.proxyTags++;
    }
  });
  const proxyManifests = Math.ceil(size.proxyBlobs / PROXY_PER_MANIFEST);
  for (let m = 0; m < proxyManifests; m += CHUNK_REPOS * 5) fillProxy(m, Math.min(proxyManifests, m + CHUNK_REPOS * 5));

  for (const i of indexes) db.exec(i.sql);
  for (const t of triggers) db.exec(t.sql);
  db.exec(RECOUNT_STORE_TOTALS);
  db.exec(RECOUNT_BROWSE_FIGURES);
  db.pragma('cache_size = -2000');
  db.pragma('synchronous = NORMAL');
  db.pragma('journal_mode = WAL');
  counts.seconds = (performance.now() - started) / 1000;
  const middle = (db.prepare('SELECT name FROM repositories ORDER BY name LIMIT 1 OFFSET ?').get(Math.floor(counts.repositories / 2)) as { name: string }).name;
  return { counts, garbageDigests, liveSample, proxySample, middleRepo: middle };
}

/**
 * The cursor of the middle page of `/api/v1/repositories?sort=pushed` (newest first): the key
 * of the repository at the middle of that order, read from the index (read-only, beside a
 * running Keel) and encoded as Keel's listing encodes it.
 */
export function middleCursor(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const count = (db.prepare('SELECT COUNT(*) AS n FROM repositories WHERE manifest_count > 0').get() as { n: number }).n;
    const row = db
      .prepare('SELECT pushed_at, name FROM repositories WHERE manifest_count > 0 ORDER BY pushed_at DESC, name DESC LIMIT 1 OFFSET ?')
      .get(Math.floor(count / 2)) as { pushed_at: number; name: string };
    return encodeCursor({ sort: 'pushed', order: 'desc', q: '' }, { value: row.pushed_at, names: [row.name] });
  } finally {
    db.close();
  }
}
