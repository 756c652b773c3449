/**
 * Keeps `npm run bench:warm` working: runs the BENCH_QUICK=1 version once (one round, 8 MiB
 * layers) and checks that it printed the table and a JSON line with both Keel setups' pull
 * times alone and during warming, their ratio and the target. Speeds are never asserted here
 * (the quick run does not enforce its target either).
 */
import { describe, expect, test } from '@jest/globals';
import { runQuickBench } from '../support/quick-bench.js';

describe('npm run bench:warm (BENCH_QUICK=1)', () => {
  test('prints, for the defaults and the capped setup, a live pull alone and during warming, the ratio and its target', async () => {
    const run = await runQuickBench('bench:warm', 240_000);
    if (run.code !== 0) throw new Error(`npm run bench:warm exited ${String(run.code)}:\n${run.stderr.slice(-4000)}\n${run.stdout.slice(-2000)}`);
    const line = run.stdout.split('\n').find((l) => l.startsWith('WARM_BENCH_JSON '));
    if (line === undefined) throw new Error(`no WARM_BENCH_JSON line in:\n${run.stdout}`);
    const report = JSON.parse(line.slice('WARM_BENCH_JSON '.length)) as { quick: boolean; rounds: number; figures: Record<string, Record<string, unknown> | undefined> };
    expect(report).toMatchObject({ quick: true, rounds: 1 });
    const missing: string[] = [];
    for (const id of ['default', 'capped']) {
      for (const key of ['alone_ms', 'during_ms', 'ratio']) {
        const value = report.figures[id]?.[key];
        if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) missing.push(`${id}.${key} = ${JSON.stringify(value)}`);
      }
      if (typeof report.figures[id]?.target_met !== 'boolean') missing.push(`${id}.target_met`);
      expect(report.figures[id]?.rounds).toHaveLength(1);
    }
    expect(missing).toEqual([]);
    expect(run.stdout).toContain('| Keel, warming defaults (3 downloads, no cap) |');
    expect(run.stdout).toContain('BENCH_QUICK=1: a smoke run, targets printed, not enforced.');
  }, 300_000);
});
