/**
 * `npm run bench:gc`: garbage collection over a large synthetic index, timed.
 * Builds an index of 100,000 blobs and 10,000 manifests (10 repositories, 10 blobs per
 * manifest, a shared base layer per repository) with one small file per blob and manifest,
 * deletes half of the manifests, then times a dry run and a real run of the local-store GC
 * (files included). Prints a table and one `GC_BENCH_JSON {...}` line.
 * GC_BENCH_BLOBS / GC_BENCH_MANIFESTS scale it down for a quick check.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { runGc } from '../../src/gc/run-gc.js';
import type { Digest } from '../../src/primitives/types.js';
import { blobPath } from '../../src/storage/fs/paths.js';
import { openDatabase } from '../../src/storage/sqlite/sqlite-index.js';

const BLOBS = Number(process.env.GC_BENCH_BLOBS ?? 100_000);
const MANIFESTS = Number(process.env.GC_BENCH_MANIFESTS ?? 10_000);
const REPOS = 10;
const PER_MANIFEST = BLOBS / MANIFESTS;
const HOUR = 3_600_000;

const digestOf = (text: string): Digest => `sha256:${createHash('sha256').update(text).digest('hex')}` as Digest;

async function writeFiles(root: string, digests: Digest[], mtime: Date): Promise<void> {
  const dirs = new Set(digests.map((d) => dirname(blobPath(root, d))));
  for (const dir of dirs) await mkdir(dir, { recursive: true });
  for (let i = 0; i < digests.length; i += 256) {
    await Promise.all(
      digests.slice(i, i + 256).map(async (d) => {
        await writeFile(blobPath(root, d), d);
        // As old as their index rows: past the grace period.
        await utimes(blobPath(root, d), mtime, mtime);
      }),
    );
  }
}

async function countFiles(root: string): Promise<number> {
  let n = 0;
  const dir = join(root, 'blobs', 'sha256');
  for (const prefix of await readdir(dir)) n += (await readdir(join(dir, prefix))).length;
  return n;
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'keel-gc-bench-'));
  try {
    const config = parseConfig('[gc]\ngrace = "1h"\n[log]\nlevel = "silent"\n', 'gc bench', root);
    const created = Date.now() - 2 * HOUR;
    const db = openDatabase(config.database);
    const setupStart = performance.now();
    const blobDigests: Digest[] = [];
    const manifestDigests: Digest[] = [];
    db.transaction(() => {
      const repo = db.prepare('INSERT INTO repositories (name, created_at) VALUES (?, ?)');
      const blob = db.prepare('INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?)');
      const link = db.prepare('INSERT OR IGNORE INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?)');
      const manifest = db.prepare(
        "INSERT INTO manifests (repository_id, digest, media_type, size, created_at) VALUES (?, ?, 'application/vnd.oci.image.manifest.v1+json', 71, ?)",
      );
      const ref = db.prepare("INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, kind) VALUES (?, ?, ?, 'blob')");
      const tag = db.prepare('INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?)');
      for (let r = 1; r <= REPOS; r++) repo.run(`bench/repo${r}`, created);
      let b = 0;
      for (let m = 0; m < MANIFESTS; m++) {
        const repoId = (m % REPOS) + 1;
        const md = digestOf(`manifest ${m}`);
        manifestDigests.push(md);
        blob.run(md, 71, created);
        manifest.run(repoId, md, created);
        for (let k = 0; k < PER_MANIFEST; k++) {
          // The first blob of every manifest is its repository's shared base layer.
          const bd = k === 0 ? digestOf(`base ${repoId}`) : digestOf(`blob ${b++}`);
          if (k !== 0 || m < REPOS) {
            blob.run(bd, 64, created);
            blobDigests.push(bd);
          }
          link.run(repoId, bd, created);
          ref.run(repoId, md, bd);
        }
        tag.run(repoId, `v${m}`, md, created);
      }
    })();
    db.close();
    await writeFiles(config.registry_storage, [...blobDigests, ...manifestDigests], new Date(created));

    // Half of the images are deleted (tags first, then the manifests by digest, as a user would).
    const live = openDatabase(config.database);
    live.transaction(() => {
      const del = live.prepare('DELETE FROM manifests WHERE digest = ?');
      manifestDigests.forEach((d, i) => {
        if (i % 2 === 1) del.run(d);
      });
    })();
    live.close();
    const setupMs = performance.now() - setupStart;

    const logger = pino({ level: 'silent' });
    const clock = { now: () => Date.now() };
    let t = performance.now();
    const dry = await runGc(config, { stores: 'registry', dryRun: true, deleteUntagged: false }, { clock, logger });
    const dryMs = performance.now() - t;
    t = performance.now();
    const real = await runGc(config, { stores: 'registry', dryRun: false, deleteUntagged: false }, { clock, logger });
    const realMs = performance.now() - t;
    t = performance.now();
    const again = await runGc(config, { stores: 'registry', dryRun: false, deleteUntagged: false }, { clock, logger });
    const idleMs = performance.now() - t;

    const r = real.stores[0];
    const remaining = await countFiles(config.registry_storage);
    const expected = blobDigests.length + MANIFESTS - (r?.blobs ?? 0);
    if (remaining !== expected) throw new Error(`${remaining} content files remain, expected ${expected}`);
    const rows = [
      ['index', `${blobDigests.length} blobs, ${MANIFESTS} manifests, ${REPOS} repositories (setup ${(setupMs / 1000).toFixed(1)} s)`],
      ['dry run', `${(dryMs / 1000).toFixed(2)} s (would delete ${dry.stores[0]?.blobs} blobs)`],
      ['real run', `${(realMs / 1000).toFixed(2)} s (deleted ${r?.blobs} blobs and their files, ${r?.links} links, ${r?.bytes} bytes; ${remaining} files remain)`],
      ['run with nothing to do', `${(idleMs / 1000).toFixed(2)} s (deleted ${again.stores[0]?.blobs} blobs)`],
      ['target', 'real run under 10 s'],
    ];
    for (const [k, v] of rows) process.stdout.write(`${(k as string).padEnd(24)} ${v}\n`);
    process.stdout.write(
      `GC_BENCH_JSON ${JSON.stringify({ blobs: blobDigests.length, manifests: MANIFESTS, dry_run_s: dryMs / 1000, real_run_s: realMs / 1000, idle_run_s: idleMs / 1000, deleted_blobs: r?.blobs, deleted_links: r?.links })}\n`,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`gc bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
