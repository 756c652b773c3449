/**
 * The figures the benchmark produces, in the order the table prints them, and the two
 * outputs: a table and one machine-readable line, `BENCH_JSON {...}`, which the test suite
 * reads. Two pairs of columns, each with its own ratio: Keel and Distribution on disk
 * (Keel/Dist), and Keel and Distribution on the same S3 server (Keel/Dist on S3). The proxy
 * part runs on disk only, so its S3 cells are empty. A fifth column, 3 replicas, has the
 * replica part's rows only, with their ratio to the single Keel on S3 of the same rows.
 */
import { cpus } from 'node:os';
import { formatSize, type BenchSettings } from './settings.js';
import { slowClientSettings } from './slow-client-settings.js';
import { allOf, bound, overExtra, ratio, shareOfLimit, type Target, type Verdict } from './targets.js';

export const SERVERS = ['keel', 'distribution', 'limit', 'keel_s3', 'distribution_s3', 'keel_replicas'] as const;
export type ServerId = (typeof SERVERS)[number];

export const SERVER_LABEL: Record<ServerId, string> = {
  keel: 'Keel',
  distribution: 'Distribution',
  limit: 'the limit',
  keel_s3: 'Keel on S3',
  distribution_s3: 'Distribution on S3',
  keel_replicas: '3 Keel replicas',
};

/**
 * Which two servers a ratio compares: Keel over Distribution on the same storage, and the
 * three replicas behind nginx over the single Keel on S3 measured in turns with them.
 */
export type Pair = 'disk' | 'limit' | 's3' | 'replicas';
const PAIRS: Record<Pair, readonly [ServerId, ServerId]> = {
  disk: ['keel', 'distribution'],
  limit: ['keel', 'limit'],
  s3: ['keel_s3', 'distribution_s3'],
  replicas: ['keel_replicas', 'keel_s3'],
};

export interface MetricDefinition {
  id: string;
  label: string;
  unit: string;
  /** Which way is better, for the reader: the ratio is Keel / Distribution (or 3 replicas / one Keel). */
  better: 'higher' | 'lower';
  /** False for a reference figure that is not the servers' own (no ratio is shown). */
  compare: boolean;
  /**
   * What the row's "limit" column holds, where it has one: the same measurement on something
   * that does only the bare minimum, in the same run (the upstream served directly, a bare
   * node:http server answering the same bytes, nginx serving the same file).
   */
  limit?: string;
  target?: Target;
}

export function metricDefinitions(s: BenchSettings): MetricDefinition[] {
  const large = formatSize(s.largeSize);
  const medium = formatSize(s.mediumSize);
  const proxyBlob = formatSize(s.proxyBlobSize);
  const pullImage = formatSize(s.pullLayerSizes.reduce((a, b) => a + b, 0));
  const slow = slowClientSettings(s.quick);
  const def = (id: string, label: string, unit: string, better: 'higher' | 'lower', compare = true, more: Pick<MetricDefinition, 'limit' | 'target'> = {}): MetricDefinition => ({
    id,
    label,
    unit,
    better,
    compare,
    ...more,
  });
  const vsDist = (id: string, factor: number): Pick<MetricDefinition, 'target'> => ({ target: ratio(id, 'disk', '>=', factor, `>= ${factor}x Distribution`) });
  const lowerThanDist = (id: string): Pick<MetricDefinition, 'target'> => ({ target: ratio(id, 'disk', '<', 1, 'lower than Distribution') });
  // Small requests (small-requests.ts): the ceiling is a bare node:http server answering Keel's bytes.
  const bare: Pick<MetricDefinition, 'limit'> = { limit: 'bare node:http, same bytes' };
  const vsDistAndBare = (id: string): Pick<MetricDefinition, 'target'> => ({
    target: allOf(ratio(id, 'disk', '>=', 5, '>= 5x Distribution'), shareOfLimit(id, 0.5, '>= 50% of bare node:http')),
  });
  return [
    def('push_small_mibps', `blob push ${s.smallCount} x ${formatSize(s.smallSize)}, monolithic`, 'MiB/s', 'higher'),
    def('push_medium_mibps', `blob push ${medium}, monolithic`, 'MiB/s', 'higher', true, vsDist('push_medium_mibps', 1.5)),
    def('push_large_mibps', `blob push ${large}, monolithic`, 'MiB/s', 'higher', true, vsDist('push_large_mibps', 1.5)),
    def('push_chunked_mibps', `blob push ${large}, ${formatSize(s.chunkSize)} PATCHes`, 'MiB/s', 'higher', true, vsDist('push_chunked_mibps', 1.5)),
    def('get_medium_mibps', `blob GET ${medium} (S3: via the 307)`, 'MiB/s', 'higher', true, vsDist('get_medium_mibps', 1)),
    def('get_large_mibps', `blob GET ${large} (S3: via the 307)`, 'MiB/s', 'higher', true, vsDist('get_large_mibps', 1)),
    def('manifest_get_rps', `manifest GET by tag, ${s.connections} conns (wrk)`, 'req/s', 'higher', true, { ...bare, ...vsDistAndBare('manifest_get_rps') }),
    def('manifest_get_p99_ms', 'manifest GET by tag, p99 latency', 'ms', 'lower', true, { ...bare, ...lowerThanDist('manifest_get_p99_ms') }),
    def('blob_head_rps', `blob HEAD, ${s.connections} conns (ab -k)`, 'req/s', 'higher', true, { ...bare, ...vsDistAndBare('blob_head_rps') }),
    def('blob_head_p99_ms', 'blob HEAD, p99 latency', 'ms', 'lower', true, { ...bare, ...lowerThanDist('blob_head_p99_ms') }),
    def('proxy_hit_mibps', `proxy cache-hit GET ${proxyBlob}`, 'MiB/s', 'higher', true, {
      target: overExtra('proxy_hit_mibps', 'keel_local_get_beside_hits_mibps', 0.9, 'within 10% of its local GET in turns'),
    }),
    def('proxy_miss_ttfb_ms', `proxy cache-miss first byte, ${proxyBlob} (median of ${s.proxyMisses})`, 'ms', 'lower'),
    def('upstream_ttfb_ms', `  upstream's own first byte (direct, just before)`, 'ms', 'lower', false),
    def('proxy_miss_ttfb_over_upstream_ms', '  miss first byte minus upstream first byte', 'ms', 'lower', true, {
      target: bound('proxy_miss_ttfb_over_upstream_ms', 'keel', '<', 1000, 'ms', '< 1 s'),
    }),
    def('proxy_miss_mibps', `proxy cache-miss GET ${proxyBlob}, whole blob (median of ${s.proxyMisses}, in turns)`, 'MiB/s', 'higher', true, {
      limit: 'upstream served directly',
      target: allOf(ratio('proxy_miss_mibps', 'disk', '>=', 1.5, '>= 1.5x Distribution'), shareOfLimit('proxy_miss_mibps', 0.5, '>= 50% of the upstream direct')),
    }),
    def('proxy_herd_upstream_gets', `upstream GETs, ${s.herdClients} clients miss ${formatSize(s.herdBlobSize)} at once`, 'GETs', 'lower', true, {
      target: bound('proxy_herd_upstream_gets', 'keel', '=', 1, 'GETs', 'exactly 1'),
    }),
    def('proxy_herd_seconds', `  time until all ${s.herdClients} have the blob`, 's', 'lower'),
    // The docker pull part (docker-pull-workload.ts): a real docker pull of a fresh image.
    def('docker_pull_cold_s', `docker pull ${s.pullLayerSizes.length} layers, ${pullImage}, cold (in no cache)`, 's', 'lower', true, {
      limit: 'docker pull from the upstream directly',
    }),
    def('docker_pull_warm_s', '  same image, warm (in the cache, not in dockerd)', 's', 'lower', true, { limit: 'docker pull from the upstream directly' }),
    def('peak_rss_push_medium_mib', `peak RSS during a ${medium} push`, 'MiB', 'lower'),
    def('peak_rss_push_large_mib', `peak RSS during a ${large} push`, 'MiB', 'lower'),
    def('peak_rss_mib', 'peak RSS, whole run', 'MiB', 'lower', true, { target: bound('peak_rss_mib', 'keel', '<', 150, 'MiB', '< 150 MiB') }),
    // The slow-client part (slow-clients-workload.ts), on servers of its own; the limit is nginx serving the file.
    def('slow_clients_peak_rss_mib', `peak RSS, ${slow.clients} clients read one ${formatSize(slow.blobSize)} blob at ${slow.rate / 1e6} MB/s each`, 'MiB', 'lower', true, {
      limit: 'nginx serving the same file from disk',
      target: bound('slow_clients_peak_rss_mib', 'keel', '<', 200, 'MiB', '< 200 MiB'),
    }),
    def('slow_clients_served', `  clients that got the whole blob, every byte right (of ${slow.clients})`, 'clients', 'higher', false, {
      target: bound('slow_clients_served', 'keel', '=', slow.clients, 'clients', `all ${slow.clients}`),
    }),
    def('slow_clients_fast_get_mibps', `  one fast client's GET of the blob meanwhile (curl)`, 'MiB/s', 'higher', true, {
      target: overExtra('slow_clients_fast_get_mibps', 'keel_slow_clients_idle_get_mibps', 0.5, '>= 50% of the same GET on the idle server'),
    }),
    // The replica part (replica-workload.ts): Keel on S3 alone and 3 replicas behind nginx.
    def('replica_manifest_get_rps', `manifest GET by tag, ${s.connections} conns (wrk), in turns: 1 Keel S3 / 3 replicas via nginx`, 'req/s', 'higher'),
    def('replica_manifest_get_p99_ms', '  p99 latency', 'ms', 'lower'),
    def('replica_herd_seconds', `cold miss, ${s.herdClients} clients, one ${formatSize(s.replicaHerdBlobSize)} blob: until all have it, verified`, 's', 'lower'),
    def('replica_herd_upstream_gets', '  upstream GETs of that blob (3 replicas: must be 1)', 'GETs', 'lower', false, {
      target: bound('replica_herd_upstream_gets', 'keel_replicas', '=', 1, 'GETs', 'exactly 1'),
    }),
  ];
}

export class Results {
  private readonly values = new Map<string, Partial<Record<ServerId, number>>>();
  /** Extra figures for the JSON line and the notes (not per server, or not compared). */
  readonly extra: Record<string, number | string | boolean> = {};
  readonly notes: string[] = [];

  set(id: string, server: ServerId, value: number): void {
    const entry = this.values.get(id) ?? {};
    entry[server] = value;
    this.values.set(id, entry);
  }

  get(id: string, server: ServerId): number | undefined {
    return this.values.get(id)?.[server];
  }

  ratio(id: string, pair: Pair = 'disk'): number | undefined {
    const [a, b] = PAIRS[pair];
    const keel = this.get(id, a);
    const dist = this.get(id, b);
    if (keel === undefined || dist === undefined || dist === 0) return undefined;
    return keel / dist;
  }
}

export function formatNumber(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString('en-US');
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function formatTable(defs: readonly MetricDefinition[], results: Results): string {
  const ratio = (d: MetricDefinition, pair: Pair): string => ((r) => (r === undefined || !d.compare ? '-' : `${r.toFixed(2)}x`))(results.ratio(d.id, pair));
  const rows = defs.map((d) => [
    d.label,
    `${d.unit} (${d.better === 'higher' ? 'higher' : 'lower'} is better)`,
    formatNumber(results.get(d.id, 'keel')),
    formatNumber(results.get(d.id, 'distribution')),
    ratio(d, 'disk'),
    formatNumber(results.get(d.id, 'limit')),
    ratio(d, 'limit'),
    formatNumber(results.get(d.id, 'keel_s3')),
    formatNumber(results.get(d.id, 'distribution_s3')),
    ratio(d, 's3'),
    formatNumber(results.get(d.id, 'keel_replicas')),
    ratio(d, 'replicas'),
    targetCell(d, results),
  ]);
  const header = ['figure', 'unit', 'Keel disk', 'Dist disk', 'Keel/Dist', 'limit', 'Keel/limit', 'Keel S3', 'Dist S3', 'Keel/Dist S3', '3 replicas', '3rep/Keel S3', 'target'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i < 2 || i === cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function jsonLine(defs: readonly MetricDefinition[], results: Results, s: BenchSettings, elapsedSeconds: number): string {
  const metrics: Record<string, unknown> = {};
  for (const d of defs) {
    metrics[d.id] = {
      unit: d.unit,
      better: d.better,
      keel: results.get(d.id, 'keel') ?? null,
      distribution: results.get(d.id, 'distribution') ?? null,
      ratio: d.compare ? (results.ratio(d.id) ?? null) : null,
      limit: results.get(d.id, 'limit') ?? null,
      limit_is: d.limit ?? null,
      ratio_limit: d.compare ? (results.ratio(d.id, 'limit') ?? null) : null,
      keel_s3: results.get(d.id, 'keel_s3') ?? null,
      distribution_s3: results.get(d.id, 'distribution_s3') ?? null,
      ratio_s3: d.compare ? (results.ratio(d.id, 's3') ?? null) : null,
      keel_replicas: results.get(d.id, 'keel_replicas') ?? null,
      ratio_replicas: d.compare ? (results.ratio(d.id, 'replicas') ?? null) : null,
      target: d.target?.text ?? null,
      target_met: d.target === undefined ? null : (d.target.check(results)?.met ?? null),
    };
  }
  const cpu = cpus();
  return `BENCH_JSON ${JSON.stringify({
    date: new Date().toISOString(),
    quick: s.quick,
    machine: { cpus: cpu.length, cpu: cpu[0]?.model ?? 'unknown', node: process.version },
    elapsed_s: Math.round(elapsedSeconds * 10) / 10,
    settings: s,
    metrics,
    extra: results.extra,
  })}`;
}

/** The target column: "met"/"MISSED" with what was compared, "not measured", or empty (no target). */
function targetCell(d: MetricDefinition, results: Results): string {
  if (d.target === undefined) return '';
  const v = d.target.check(results);
  if (v === undefined) return `${d.target.text}: not measured`;
  return `${d.target.text}: ${v.met ? 'met' : 'MISSED'} (${v.shown})`;
}

export interface TargetOutcome {
  def: MetricDefinition;
  target: Target;
  /** Undefined: not measured in this run. */
  verdict: Verdict | undefined;
}

/** Every row with a target, and how this run did against it. */
export function targetOutcomes(defs: readonly MetricDefinition[], results: Results): TargetOutcome[] {
  return defs.flatMap((def) => (def.target === undefined ? [] : [{ def, target: def.target, verdict: def.target.check(results) }]));
}
