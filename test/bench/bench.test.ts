/**
 * Keeps `npm run bench` working: runs the BENCH_QUICK=1 smoke version once and checks that it
 * produced every figure for both servers. Speeds are never asserted here: targets are checked
 * by reading the benchmark's table, not by timed tests.
 */
import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { ensureTools, TOOL_INSTALL_TIMEOUT_MS } from '../support/e2e/tools.js';

const METRICS = [
  'push_small_mibps',
  'push_medium_mibps',
  'push_large_mibps',
  'push_chunked_mibps',
  'get_medium_mibps',
  'get_large_mibps',
  'manifest_get_rps',
  'manifest_get_p99_ms',
  'blob_head_rps',
  'blob_head_p99_ms',
  'proxy_hit_mibps',
  'proxy_miss_ttfb_ms',
  'upstream_ttfb_ms',
  'proxy_miss_ttfb_over_upstream_ms',
  'proxy_miss_mibps',
  'proxy_herd_upstream_gets',
  'proxy_herd_seconds',
  'peak_rss_mib',
] as const;

interface BenchRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(): Promise<BenchRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'bench'], {
      env: { ...process.env, BENCH_QUICK: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run bench (BENCH_QUICK=1)', () => {
  // The bench itself installs nothing; the test suite installs what it needs, as for e2e.
  beforeAll(() => ensureTools(['docker-registry', 'wrk', 'ab', 'curl']), TOOL_INSTALL_TIMEOUT_MS);

  test('prints a table and a JSON line with every figure for Keel and Distribution', async () => {
    const run = await runBench();
    if (run.code !== 0) throw new Error(`npm run bench exited ${String(run.code)}:\n${run.stderr.slice(-4000)}\n${run.stdout.slice(-2000)}`);
    expect(run.stdout).toMatch(/fsyncs a committed blob/);
    const line = run.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
    if (line === undefined) throw new Error(`no BENCH_JSON line in:\n${run.stdout}`);
    const report = JSON.parse(line.slice('BENCH_JSON '.length)) as {
      quick: boolean;
      metrics: Record<string, { keel: unknown; distribution: unknown } | undefined>;
    };
    expect(report.quick).toBe(true);
    const missing: string[] = [];
    for (const id of METRICS) {
      const m = report.metrics[id];
      for (const server of ['keel', 'distribution'] as const) {
        const value = m?.[server];
        if (typeof value !== 'number' || !Number.isFinite(value)) missing.push(`${id}.${server} = ${JSON.stringify(value)}`);
      }
    }
    expect(missing).toEqual([]);
  }, 180_000);
});
