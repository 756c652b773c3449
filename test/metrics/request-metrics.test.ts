import { describe, expect, test } from '@jest/globals';
import client from 'prom-client';
import { DurationHistogram } from '../../src/metrics/duration-histogram.js';
import { RequestTally, type RequestTotals } from '../../src/metrics/request-tally.js';

describe('DurationHistogram', () => {
  test('exposes cumulative buckets (a value on a bound counts in it), +Inf, sum and count per route and method', async () => {
    const registry = new client.Registry();
    const h = new DurationHistogram('t_seconds', 'test latency', [0.01, 0.1, 1], registry);
    for (const s of [0.005, 0.01, 0.05, 2]) h.observe('manifest', 'GET', s);
    h.observe('blob', 'HEAD', 0.2);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE t_seconds histogram');
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      if (line === undefined) throw new Error(`no ${series} in\n${text}`);
      return Number(line.slice(series.length + 1));
    };
    expect(value('t_seconds_bucket{route="manifest",method="GET",le="0.01"}')).toBe(2);
    expect(value('t_seconds_bucket{route="manifest",method="GET",le="0.1"}')).toBe(3);
    expect(value('t_seconds_bucket{route="manifest",method="GET",le="1"}')).toBe(3);
    expect(value('t_seconds_bucket{route="manifest",method="GET",le="+Inf"}')).toBe(4);
    expect(value('t_seconds_sum{route="manifest",method="GET"}')).toBeCloseTo(2.065);
    expect(value('t_seconds_count{route="manifest",method="GET"}')).toBe(4);
    expect(value('t_seconds_bucket{route="blob",method="HEAD",le="0.1"}')).toBe(0);
    expect(value('t_seconds_bucket{route="blob",method="HEAD",le="1"}')).toBe(1);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('t_seconds_count');
  });
});

describe('RequestTally', () => {
  test('sums per route, method and status, and hands each total over once', () => {
    const flushed: RequestTotals[] = [];
    const tally = new RequestTally((t) => flushed.push(t));
    tally.add('manifest', 'GET', 200, 0, 500);
    tally.add('manifest', 'GET', 200, 0, 500);
    tally.add('manifest', 'GET', 404, 0, 90);
    tally.drain();
    expect(flushed).toEqual([
      { route: 'manifest', method: 'GET', status: '200', requests: 2, bytesIn: 0, bytesOut: 1000 },
      { route: 'manifest', method: 'GET', status: '404', requests: 1, bytesIn: 0, bytesOut: 90 },
    ]);
    tally.drain();
    expect(flushed).toHaveLength(2);
  });
});
