/**
 * `npm run bench:scale`: what Keel's requests cost as the registry grows. Keel (dist/, the
 * embedded default: filesystem stores and a SQLite index) starts on an empty registry; the
 * bench pushes its own images through HTTP and takes sequential latency samples of manifest
 * GET by tag, tags/list pages, _catalog pages, the repository listing by last push (first and
 * middle page, /api/v1/repositories), a push and /metrics (workload.ts). Keel stops;
 * the bench fills the index straight through SQLite (fill.ts: 1,000,000 tags over 100,000
 * repositories, 1,000,000 proxy blobs) and writes the files GC will look at; Keel starts
 * again (its first open is timed apart: it takes the planner's statistics), is restarted three
 * times (the start figure: restarts of each index) and the same samples are taken. Then GC, the real CLI (scripts/gc), runs on that
 * index and stores, a dry run, a real run and a second real run (nothing left to delete: what
 * cron sees from then on), while Keel serves.
 *
 * The table gives each figure's p50 and p99 in both phases and full/empty; the target is the
 * p50 ratio <= 2x (p99 is shown: on a shared 2-core machine it is noise-bound), and GC under
 * 60 s for each run. A full run that misses one exits 3 after the table; BENCH_QUICK=1 (10,000
 * tags over 1,000 repositories, 10,000 proxy blobs) only prints. One `SCALE_BENCH_JSON {...}`
 * line at the end for the test suite. SCALE_REPOS / SCALE_PROXY_BLOBS set other sizes.
 *
 * Work directory (removed at the end): keel.toml, keel.log, index.db, registry/, proxy/, _tmp/.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort } from '../../test/support/e2e/ports.js';
import { httpResponds, startProcess, type ManagedProcess } from '../../test/support/e2e/processes.js';
import { run } from '../../test/support/e2e/run.js';
import { openDatabase } from '../../src/storage/sqlite/sqlite-index.js';
import { fillIndex, middleCursor, type FillResult } from './fill.js';
import { ScaleClient } from './http-client.js';
import { CATALOG_MIDDLE_EMPTY, measurePhase, percentile, pushBenchImages, type FigureId, type Samples } from './workload.js';

const quick = process.env.BENCH_QUICK === '1';
const REPOS = Number(process.env.SCALE_REPOS ?? (quick ? 1_000 : 100_000));
const TAGS_PER_REPO = 10;
const PROXY_BLOBS = Number(process.env.SCALE_PROXY_BLOBS ?? (quick ? 10_000 : 1_000_000));
const TAG_COUNT = quick ? 200 : 2_000;
const ROUNDS = quick ? 2 : 5;
/** Restarts of each index whose start-up times make the start figure. */
const RESTARTS = 3;
const PER_ROUND = quick ? 10 : 100;
const PUSHES_PER_ROUND = quick ? 5 : 40;
const RATIO_TARGET = 2;
const GC_TARGET_S = 60;
/** Proxy blob files written (a sample: a million files would take longer than the rest of the bench). */
const PROXY_FILE_SAMPLE = quick ? 1_000 : 10_000;

const FIGURES: Array<{ id: FigureId | 'startup'; label: string }> = [
  { id: 'manifest_get', label: 'manifest GET by tag (each tag once)' },
  { id: 'tags_first', label: 'tags/list?n=100, first page' },
  { id: 'tags_after', label: 'tags/list?n=100&last=<middle tag>' },
  { id: 'catalog_first', label: '_catalog?n=100, first page' },
  { id: 'catalog_middle', label: '_catalog?n=100&last=<middle repo>' },
  { id: 'browse_first', label: '/api/v1/repositories?sort=pushed&n=100, first page' },
  { id: 'browse_middle', label: '/api/v1/repositories?sort=pushed&n=100, middle page (cursor)' },
  { id: 'push', label: 'push: 1 KiB blob (POST ?digest=) + manifest PUT' },
  { id: 'metrics', label: 'GET /metrics' },
  { id: 'startup', label: 'restart until /v2/ answers (100 ms polls)' },
];

const began = performance.now();
const log = (m: string): void => void process.stderr.write(`[${((performance.now() - began) / 1000).toFixed(1).padStart(6)}s] ${m}\n`);

interface Keel {
  url: string;
  proc: ManagedProcess;
  startupMs: number;
}

async function startKeel(dir: string): Promise<Keel> {
  const main = resolve('scripts/keel');
  if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first (npm run bench:scale does)`);
  const host = `127.0.0.1:${await freePort()}`;
  await writeFile(
    join(dir, 'keel.toml'),
    [`listen = "${host}"`, 'registry_storage = "registry"', 'proxy_storage = "proxy"', 'temporary_registry_storage = "_tmp"', 'database = "index.db"', '', '[log]', 'level = "warn"', ''].join('\n'),
  );
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KEEL_')));
  const t = performance.now();
  const proc = await startProcess({
    name: 'keel',
    file: main,
    args: ['--config', join(dir, 'keel.toml')],
    env: { ...env, NODE_ENV: 'production' },
    cwd: dir,
    logFile: join(dir, 'keel.log'),
    ready: httpResponds({ url: `http://${host}/v2/` }, [200]),
    readyTimeoutMs: 300_000,
  });
  return { url: `http://${host}`, proc, startupMs: performance.now() - t };
}

/** Keel started and stopped RESTARTS times on the same index: how long each start took until /v2/ answered. */
async function restarts(dir: string): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < RESTARTS; i++) {
    const k = await startKeel(dir);
    ms.push(k.startupMs);
    await k.proc.stop();
  }
  return ms;
}

/** Files GC looks at: those it deletes (their rows are garbage) and a sample of live ones, all past the grace period. */
async function writeBlobFiles(root: string, digests: readonly string[], mtime: Date): Promise<void> {
  const path = (d: string): string => {
    const hex = d.slice('sha256:'.length);
    return join(root, 'blobs', 'sha256', hex.slice(0, 2), hex);
  };
  for (const dir of new Set(digests.map((d) => dirname(path(d))))) await mkdir(dir, { recursive: true });
  for (let i = 0; i < digests.length; i += 256) {
    await Promise.all(
      digests.slice(i, i + 256).map(async (d) => {
        await writeFile(path(d), d);
        await utimes(path(d), mtime, mtime);
      }),
    );
  }
}

interface GcRun {
  seconds: number;
  summary: string;
  /** Set when the run did not finish (its exit and the last line of its stderr). */
  failed?: string;
}

async function runGc(dir: string, dryRun: boolean): Promise<GcRun> {
  const t = performance.now();
  const args = ['--config', join(dir, 'keel.toml'), '--json', ...(dryRun ? ['--dry-run'] : [])];
  const out = await run(resolve('scripts/gc'), args, { cwd: dir, timeoutMs: 1_800_000, allowFailure: true });
  const seconds = (performance.now() - t) / 1000;
  if (out.code !== 0) {
    // A GC that fails (out of memory, say) is a missed target with its reason, not a lost run.
    const last = out.stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-3).join(' | ');
    return { seconds, summary: `failed after ${seconds.toFixed(0)} s`, failed: `exit ${String(out.code ?? out.signal)}: ${last.slice(0, 400)}` };
  }
  const s = JSON.parse(out.stdout.toString('utf8')) as { stores: Array<{ store: string; blobs: number; links: number; manifests: number; tags: number; bytes: number }> };
  const summary = s.stores.map((x) => `${x.store}: ${x.blobs} blobs, ${x.links} links, ${x.manifests} manifests, ${x.tags} tags`).join('; ');
  return { seconds, summary };
}

const fmt = (n: number | undefined): string => (n === undefined ? '-' : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

async function main(): Promise<void> {
  // The harness unrefs its daemons and their stop timers; without this node would exit while
  // stopping Keel. Every way out calls process.exit.
  setInterval(() => undefined, 60_000);
  const dir = await mkdtemp(join(tmpdir(), 'keel-scale-bench-'));
  let keel: Keel | undefined;
  const stopKeel = async (): Promise<void> => {
    const k = keel;
    keel = undefined;
    await k?.proc.stop();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping Keel`);
      void stopKeel()
        .then(() => rm(dir, { recursive: true, force: true }))
        .finally(() => process.exit(130));
    });
  }
  try {
    log(`${quick ? 'quick' : 'full'} run: ${REPOS} repositories x ${TAGS_PER_REPO} tags, ${PROXY_BLOBS} proxy blobs; work dir ${dir}`);
    const phase = { rounds: ROUNDS, perRound: PER_ROUND, pushesPerRound: PUSHES_PER_ROUND, tagCount: TAG_COUNT, metricsBudgetMs: quick ? 2_000 : 15_000 };

    keel = await startKeel(dir);
    const emptyStartup = keel.startupMs;
    let client = new ScaleClient(keel.url);
    log(`keel ${keel.url} (pid ${keel.proc.pid}) up in ${emptyStartup.toFixed(0)} ms; pushing the bench's images`);
    await pushBenchImages(client, TAG_COUNT);
    log('empty registry: measuring');
    const empty = await measurePhase(client, { ...phase, phase: 'empty', catalogMiddle: CATALOG_MIDDLE_EMPTY, browseMiddle: middleCursor(join(dir, 'index.db')) });
    client.close();
    await stopKeel();
    const emptyRestarts = await restarts(dir);
    log(`empty registry: restarts until /v2/ answers ${emptyRestarts.map((ms) => ms.toFixed(0)).join(', ')} ms`);

    log('keel stopped; filling the index');
    const db = openDatabase(join(dir, 'index.db'));
    let fill: FillResult;
    try {
      fill = fillIndex(db, { repos: REPOS, tagsPerRepo: TAGS_PER_REPO, proxyBlobs: PROXY_BLOBS }, Date.now());
    } finally {
      db.close();
    }
    const c = fill.counts;
    log(
      `filled in ${c.seconds.toFixed(1)} s: ${c.repositories} repositories, ${c.tags} tags, ${c.manifests} manifests, ${c.references} references, ` +
        `${c.blobs} blobs, ${c.links} links; proxy: ${c.proxyBlobs} blobs, ${c.proxyManifests} manifests, ${c.proxyTags} tags`,
    );
    const old = new Date(Date.now() - 3 * 86_400_000);
    await writeBlobFiles(join(dir, 'registry'), [...fill.garbageDigests, ...fill.liveSample], old);
    await writeBlobFiles(join(dir, 'proxy'), fill.proxySample.slice(0, PROXY_FILE_SAMPLE), old);
    const onDisk =
      `registry: ${fill.garbageDigests.length} files of the blobs GC deletes + ${fill.liveSample.length} live ones (of ${c.blobs} blob rows) + the bench's own pushes; ` +
      `proxy: ${Math.min(PROXY_FILE_SAMPLE, fill.proxySample.length)} files (of ${c.proxyBlobs} blob rows)`;
    log(`files on disk: ${onDisk}`);

    // The first open after the fill takes the planner's statistics (PRAGMA optimize, as on
    // the first start after an upgrade or a bulk import); every later start is a restart of
    // a registry that has them, which is what the figure compares.
    keel = await startKeel(dir);
    const firstOpen = keel.startupMs;
    await stopKeel();
    const fullRestarts = await restarts(dir);
    keel = await startKeel(dir);
    client = new ScaleClient(keel.url);
    log(`keel: first open of the filled index ${firstOpen.toFixed(0)} ms, restarts ${fullRestarts.map((ms) => ms.toFixed(0)).join(', ')} ms; full registry: measuring`);
    const full = await measurePhase(client, { ...phase, phase: 'full', catalogMiddle: fill.middleRepo, browseMiddle: middleCursor(join(dir, 'index.db')) });

    log('gc: dry run (Keel serving)');
    const dry = await runGc(dir, true);
    log(`gc dry run ${dry.seconds.toFixed(1)} s: ${dry.summary}`);
    const real = await runGc(dir, false);
    log(`gc real run ${real.seconds.toFixed(1)} s: ${real.summary}`);
    // What cron sees from then on: the same index with nothing left to delete.
    const again = await runGc(dir, false);
    log(`gc real run again ${again.seconds.toFixed(1)} s: ${again.summary}`);
    await client.expect(200, 'GET', '/v2/bench/tags/manifests/t00000', undefined, { accept: 'application/vnd.oci.image.manifest.v1+json' });
    client.close();
    await stopKeel();

    report(empty, full, { empty: emptyRestarts, full: fullRestarts, firstOpen, emptyFirst: emptyStartup }, { dry, real, again }, fill, onDisk);
  } finally {
    await stopKeel();
    await rm(dir, { recursive: true, force: true });
  }
}

function report(empty: Samples, full: Samples, startup: { empty: number[]; full: number[]; firstOpen: number; emptyFirst: number }, gc: { dry: GcRun; real: GcRun; again: GcRun }, fill: FillResult, onDisk: string): void {
  const { dry, real, again } = gc;
  const rows: string[][] = [];
  const json: Record<string, unknown> = {};
  const missed: string[] = [];
  for (const f of FIGURES) {
    const e = f.id === 'startup' ? startup.empty : empty.ms[f.id];
    const u = f.id === 'startup' ? startup.full : full.ms[f.id];
    const e50 = percentile(e, 50);
    const u50 = percentile(u, 50);
    const e99 = percentile(e, 99);
    const u99 = percentile(u, 99);
    const ratio = u50 / e50;
    const met = ratio <= RATIO_TARGET;
    if (!met) missed.push(f.id);
    const p99 = f.id === 'startup' ? '-' : `${(u99 / e99).toFixed(2)}x`;
    rows.push([f.label, 'ms', fmt(e50), f.id === 'startup' ? '-' : fmt(e99), fmt(u50), f.id === 'startup' ? '-' : fmt(u99), `${ratio.toFixed(2)}x`, p99, `<= ${RATIO_TARGET}x: ${met ? 'met' : 'MISSED'}`, `${e.length}/${u.length}`]);
    json[f.id] = { empty_p50_ms: e50, empty_p99_ms: e99, full_p50_ms: u50, full_p99_ms: u99, ratio_p50: ratio, ratio_p99: u99 / e99, samples: [e.length, u.length], target: `ratio_p50 <= ${RATIO_TARGET}`, target_met: met };
  }
  for (const [id, label, g] of [
    ['gc_dry_run', 'GC dry run (scripts/gc --dry-run), Keel serving', dry],
    ['gc_real_run', 'GC real run (scripts/gc), Keel serving', real],
    ['gc_again_run', 'GC real run again, nothing left to delete', again],
  ] as const) {
    const met = g.failed === undefined && g.seconds < GC_TARGET_S;
    if (!met) missed.push(id);
    rows.push([label, 's', '-', '-', fmt(g.seconds), '-', '-', '-', `< ${GC_TARGET_S} s: ${met ? 'met' : 'MISSED'}`, '1']);
    json[id] = { seconds: g.seconds, summary: g.summary, ...(g.failed === undefined ? {} : { failed: g.failed }), target: `< ${GC_TARGET_S} s`, target_met: met };
  }
  const header = ['figure', 'unit', 'empty p50', 'empty p99', 'full p50', 'full p99', 'full/empty p50', 'p99', 'target', 'samples'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((x, i) => (i < 2 || i >= 8 ? x.padEnd(widths[i] ?? 0) : x.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  const c = fill.counts;
  const out = [
    `Keel, empty registry vs ${c.tags.toLocaleString('en-US')} tags over ${c.repositories.toLocaleString('en-US')} repositories ` +
      `(${c.manifests.toLocaleString('en-US')} manifests, ${c.blobs.toLocaleString('en-US')} blobs, ${c.links.toLocaleString('en-US')} links) ` +
      `and ${c.proxyBlobs.toLocaleString('en-US')} proxy blobs; SQLite index, filesystem stores`,
    '',
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
    `Fill: straight into SQLite with Keel stopped (${c.seconds.toFixed(0)} s), rows shaped as Keel writes them (scripts/bench-scale/fill.ts).`,
    `Start: restarts of each index (${startup.empty.map((ms) => ms.toFixed(0)).join(', ')} ms empty; ${startup.full.map((ms) => ms.toFixed(0)).join(', ')} ms full). ` +
      `The first starts are not in the figure: ${startup.emptyFirst.toFixed(0)} ms creating the empty index, ${startup.firstOpen.toFixed(0)} ms opening the filled one (it takes the planner's statistics).`,
    `On disk for GC: ${onDisk}.`,
    `GC dry run: ${dry.summary}${dry.failed === undefined ? '' : ` (${dry.failed})`}.`,
    `GC real run: ${real.summary}${real.failed === undefined ? '' : ` (${real.failed})`}.`,
    `GC real run again: ${again.summary}${again.failed === undefined ? '' : ` (${again.failed})`}.`,
    `Machine: ${cpus().length} CPUs, load ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}; samples are sequential on one keep-alive connection, in ${ROUNDS} rounds.`,
    quick ? 'BENCH_QUICK=1: a smoke run, targets printed, not enforced.' : missed.length > 0 ? `MISSED: ${missed.join(', ')}` : 'Every target met.',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  process.stdout.write(`SCALE_BENCH_JSON ${JSON.stringify({ date: new Date().toISOString(), quick, fill: c, on_disk: onDisk, first_open_ms: { empty: startup.emptyFirst, full: startup.firstOpen }, figures: json })}\n`);
  if (!quick && missed.length > 0) process.exitCode = 3;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    process.stderr.write(`bench:scale: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
