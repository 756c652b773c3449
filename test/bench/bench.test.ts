/**
 * Keeps `npm run bench` working: runs the BENCH_QUICK=1 smoke version once and checks that it
 * produced every figure for both servers on disk, every registry-part figure for Distribution
 * on S3, and for Keel on S3 either every registry-part figure or the stated reason it did not
 * run, and the replica part's figures for the 3 replicas (their herd made 1 upstream GET) or
 * the stated reason they did not run. Speeds are never asserted here: targets are checked by
 * reading the benchmark's table, not by timed tests.
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { ensureTools, TOOL_INSTALL_TIMEOUT_MS } from '../support/e2e/tools.js';
import { runQuickBench } from '../support/quick-bench.js';

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
  'peak_rss_push_medium_mib',
  'peak_rss_push_large_mib',
  'peak_rss_mib',
  'docker_pull_cold_s',
  'docker_pull_warm_s',
] as const;

/** Rows whose limit column is filled: the same measurement on the bare reference, in the same run. */
const LIMIT_METRICS = ['proxy_miss_mibps', 'docker_pull_cold_s', 'docker_pull_warm_s', 'manifest_get_rps', 'manifest_get_p99_ms', 'blob_head_rps', 'blob_head_p99_ms'] as const;

/** The registry part, which also runs on S3 (the proxy part runs on disk only). */
const S3_METRICS = [
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
  'peak_rss_push_medium_mib',
  'peak_rss_push_large_mib',
  'peak_rss_mib',
] as const;

/** The slow-client part: Keel, Distribution and nginx (the limit) on servers of their own. */
const SLOW_METRICS = ['slow_clients_peak_rss_mib', 'slow_clients_served', 'slow_clients_fast_get_mibps'] as const;
/** BENCH_QUICK=1's slow clients (scripts/bench/slow-client-settings.ts). */
const SLOW_CLIENTS = 30;

/** The replica part: 3 replicas behind nginx, and the single Keel on S3 beside them. */
const REPLICA_METRICS = ['replica_manifest_get_rps', 'replica_manifest_get_p99_ms', 'replica_herd_seconds', 'replica_herd_upstream_gets'] as const;

type Server = 'keel' | 'distribution' | 'limit' | 'keel_s3' | 'distribution_s3' | 'keel_replicas';

describe('npm run bench (BENCH_QUICK=1)', () => {
  // The bench itself installs nothing; the test suite installs what it needs, as for e2e.
  beforeAll(
    () =>
      ensureTools(['docker-registry', 'wrk', 'ab', 'curl', 'ceph-mon', 'ceph-osd', 'monmaptool', 'radosgw', 'radosgw-admin', 'ceph', 'nginx', 'initdb', 'pg_ctl', 'runuser', 'dockerd', 'docker', 'containerd']),
    TOOL_INSTALL_TIMEOUT_MS,
  );

  test('prints a table and a JSON line with every figure for Keel and Distribution, on disk and on S3', async () => {
    const run = await runQuickBench('bench', 880_000);
    if (run.code !== 0) throw new Error(`npm run bench exited ${String(run.code)}:\n${run.stderr.slice(-4000)}\n${run.stdout.slice(-2000)}`);
    expect(run.stdout).toMatch(/fsyncs a committed blob/);
    const line = run.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
    if (line === undefined) throw new Error(`no BENCH_JSON line in:\n${run.stdout}`);
    const report = JSON.parse(line.slice('BENCH_JSON '.length)) as {
      quick: boolean;
      metrics: Record<string, Partial<Record<Server, unknown>> | undefined>;
      extra: Record<string, unknown>;
    };
    expect(report.quick).toBe(true);
    const missing: string[] = [];
    const check = (ids: readonly string[], server: Server): void => {
      for (const id of ids) {
        const value = report.metrics[id]?.[server];
        if (typeof value !== 'number' || !Number.isFinite(value)) missing.push(`${id}.${server} = ${JSON.stringify(value)}`);
      }
    };
    check(METRICS, 'keel');
    check(METRICS, 'distribution');
    // The rows with a limit column: the same measurement on the bare reference, in the same run.
    check(LIMIT_METRICS, 'limit');
    check(S3_METRICS, 'distribution_s3');
    for (const server of ['keel', 'distribution', 'limit'] as const) {
      check(SLOW_METRICS, server);
      // Every slow client got the whole blob right from each server (the limit is nginx).
      expect(report.metrics.slow_clients_served?.[server]).toBe(SLOW_CLIENTS);
    }
    // Keel on S3 is measured, or the output says why not; never a column left silently empty.
    const notRun = report.extra.keel_s3_not_run;
    if (typeof notRun === 'string') {
      expect(run.stdout).toContain(`Keel on S3: not run (${notRun})`);
      for (const id of S3_METRICS) expect(report.metrics[id]?.keel_s3).toBeNull();
    } else {
      expect(notRun).toBeUndefined();
      check(S3_METRICS, 'keel_s3');
      check(REPLICA_METRICS, 'keel_s3');
    }
    // The replicas are measured (the bench then has checked their herd made 1 upstream GET),
    // or, without root (PostgreSQL runs as the postgres user), the output says why not.
    const replicasNotRun = report.extra.replicas_not_run;
    if (process.getuid?.() === 0) {
      expect(replicasNotRun).toBeUndefined();
      check(REPLICA_METRICS, 'keel_replicas');
      expect(report.metrics.replica_herd_upstream_gets?.keel_replicas).toBe(1);
      expect(run.stdout).toMatch(/3 replicas +3rep\/Keel S3/);
    } else {
      expect(run.stdout).toContain(`3 Keel replicas: not run (${String(replicasNotRun)})`);
      for (const id of REPLICA_METRICS) expect(report.metrics[id]?.keel_replicas).toBeNull();
    }
    expect(missing).toEqual([]);
  }, 900_000);
});
