/**
 * Keeps `npm run bench:scale` working: runs the BENCH_QUICK=1 version once (10,000 tags over
 * 1,000 repositories, 10,000 proxy blobs) and checks that it printed the table and a JSON line
 * with every figure for both phases, its ratio and target, and both GC runs with what they
 * deleted. Speeds are never asserted here (the quick run does not enforce its targets either).
 */
import { describe, expect, test } from '@jest/globals';
import { runQuickBench } from '../support/quick-bench.js';

const FIGURES = ['manifest_get', 'tags_first', 'tags_after', 'catalog_first', 'catalog_middle', 'browse_first', 'browse_middle', 'push', 'metrics', 'startup'] as const;

describe('npm run bench:scale (BENCH_QUICK=1)', () => {
  test('prints every figure on the empty and the filled index, its ratio and target, and both GC runs', async () => {
    const run = await runQuickBench('bench:scale', 400_000);
    if (run.code !== 0) throw new Error(`npm run bench:scale exited ${String(run.code)}:\n${run.stderr.slice(-4000)}\n${run.stdout.slice(-2000)}`);
    const line = run.stdout.split('\n').find((l) => l.startsWith('SCALE_BENCH_JSON '));
    if (line === undefined) throw new Error(`no SCALE_BENCH_JSON line in:\n${run.stdout}`);
    const report = JSON.parse(line.slice('SCALE_BENCH_JSON '.length)) as {
      quick: boolean;
      fill: Record<string, number>;
      on_disk: string;
      first_open_ms: { empty?: unknown; full?: unknown };
      figures: Record<string, Record<string, unknown> | undefined>;
    };
    expect(report.quick).toBe(true);
    // The fill is the quick size, shaped as described (a tag per manifest but one in 100).
    expect(report.fill).toMatchObject({ repositories: 1000, manifests: 10_000, tags: 9_900, proxyBlobs: 10_000 });
    expect(report.on_disk).toMatch(/^registry: \d+ files of the blobs GC deletes/);
    const missing: string[] = [];
    for (const id of FIGURES) {
      for (const key of ['empty_p50_ms', 'empty_p99_ms', 'full_p50_ms', 'full_p99_ms', 'ratio_p50']) {
        const value = report.figures[id]?.[key];
        if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) missing.push(`${id}.${key} = ${JSON.stringify(value)}`);
      }
      if (typeof report.figures[id]?.target_met !== 'boolean') missing.push(`${id}.target_met`);
    }
    for (const id of ['gc_dry_run', 'gc_real_run', 'gc_again_run']) {
      const gc = report.figures[id];
      if (typeof gc?.seconds !== 'number' || !(gc.seconds > 0)) missing.push(`${id}.seconds = ${JSON.stringify(gc?.seconds)}`);
      if (typeof gc?.target_met !== 'boolean') missing.push(`${id}.target_met`);
      if (id === 'gc_again_run') {
        // The real run left nothing to delete, but for one image that may have passed max_age
        // since (the fill spreads last reads over 60 days of wall-clock time).
        expect(gc?.summary).toMatch(/^registry: 0 blobs, 0 links, 0 manifests, 0 tags; proxy: (0 blobs, 0 links, 0 manifests, 0 tags|10 blobs, 0 links, 1 manifests, 1 tags)$/);
      } else {
        // GC found the fill's garbage: 10 abandoned layers (one repository in 100) and their links.
        expect(gc?.summary).toMatch(/^registry: 10 blobs, 10 links, 0 manifests, 0 tags; proxy: [1-9]\d* blobs/);
      }
    }
    expect(missing).toEqual([]);
    // The start figure is three restarts of each index; the first opens are reported apart.
    expect(report.figures.startup?.samples).toEqual([3, 3]);
    for (const first of [report.first_open_ms.empty, report.first_open_ms.full]) expect(typeof first === 'number' && first > 0).toBe(true);
    expect(run.stdout).toMatch(/The first starts are not in the figure: \d+ ms creating the empty index, \d+ ms opening the filled one/);
    for (const label of ['manifest GET by tag', '_catalog?n=100&last=<middle repo>', '/api/v1/repositories?sort=pushed&n=100, middle page (cursor)', 'GET /metrics', 'GC real run', 'GC real run again']) expect(run.stdout).toContain(label);
    expect(run.stdout).toContain('BENCH_QUICK=1: a smoke run, targets printed, not enforced.');
  }, 420_000);
});
