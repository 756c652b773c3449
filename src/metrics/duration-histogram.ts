/**
 * The request latency histogram (keel_http_request_duration_seconds), kept in plain arrays
 * per (route, method) and shaped for prom-client's registry only when it is scraped.
 * prom-client's own Histogram rebuilt and hashed the label set on every observe: 4-6% of
 * the CPU of a manifest GET under load. The exposition is the same: cumulative `_bucket`
 * series with `le`, then `_sum` and `_count`. A scrape sees every observation so far.
 */
import client from 'prom-client';

interface Series {
  labels: { route: string; method: string };
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

interface ExportedValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export class DurationHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** By route, then method: nested maps, so an observation builds no key string. */
  private readonly series = new Map<string, Map<string, Series>>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registry: client.Registry,
  ) {
    // The registry only calls get() (and reset()); prom-client's types list its own classes.
    registry.registerMetric(this as unknown as client.Metric);
  }

  observe(route: string, method: string, seconds: number): void {
    let byMethod = this.series.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.series.set(route, byMethod);
    }
    let s = byMethod.get(method);
    if (s === undefined) {
      s = { labels: { route, method }, counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      byMethod.set(method, s);
    }
    let i = 0;
    while (i < this.buckets.length && seconds > (this.buckets[i] as number)) i++;
    s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += seconds;
    s.count++;
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportedValue[] }> {
    const values: ExportedValue[] = [];
    for (const s of [...this.series.values()].flatMap((byMethod) => [...byMethod.values()])) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i] ?? 0;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.series.clear();
  }
}
