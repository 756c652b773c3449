import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { runGc } from '../../src/gc/run-gc.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, randomBytes } from '../support/oci-client.js';

let upstream: KeelProcess;
let keel: KeelProcess;

const REPLICA = 'replica-7';

/**
 * The value of one sample in the Prometheus text, e.g. metric('x_total{a="b"}'), named without
 * the replica label: the scrape first checks that every sample carries it.
 */
async function scrape(url: string): Promise<(sample: string) => number> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const samples = (await res.text()).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  expect(samples.length).toBeGreaterThan(50);
  expect(samples.filter((l) => !l.includes(`replica="${REPLICA}"`))).toEqual([]);
  // prom-client puts the default label first in some series, last in others.
  const label = `replica="${REPLICA}"`;
  const text = samples.map((l) => l.replace(`{${label}}`, '').replace(`{${label},`, '{').replace(`,${label}`, '')).join('\n');
  return (sample: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    return line === undefined ? NaN : Number(line.slice(sample.length + 1));
  };
}

beforeAll(async () => {
  upstream = await startKeel();
  keel = await startKeel({ toml: `[proxy.upstreams.up]\nurl = "${upstream.url}"\nallow_private = true\n[gc]\ngrace = "0s"\n[metrics]\nlisten = "127.0.0.1:0"\n[cluster]\nreplica = "${REPLICA}"\n` });
});
afterAll(async () => {
  await keel.destroy();
  await upstream.destroy();
});

describe('the replica label', () => {
  test('is the host name when cluster.replica is empty', async () => {
    const text = await (await fetch(`${upstream.url}/metrics`)).text();
    const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(samples.length).toBeGreaterThan(50);
    expect(samples.filter((l) => !l.includes(`replica="${hostname()}"`))).toEqual([]);
  });
});

describe('/metrics after a known sequence', () => {
  test('counts requests, bytes, proxy hits and misses, upstream requests, uploads, store sizes and the last GC', async () => {
    const client = new Client(keel.url);
    const image = await client.pushImage('team/app', 'v1', { layers: 2, layerSize: 10_000 });
    for (let i = 0; i < 2; i++) expect((await client.fetch('/v2/team/app/manifests/v1')).status).toBe(200);
    const open = await client.fetch('/v2/team/app/blobs/uploads/', { method: 'POST' });
    expect(open.status).toBe(202);

    const remote = await new Client(upstream.url).pushImage('lib/base', 'v1', { layers: 1, layerSize: 20_000 });
    const layer = remote.blobs[1] as { digest: string; size: number };
    for (let i = 0; i < 2; i++) {
      expect((await client.fetch('/v2/proxy/up/lib/base/manifests/v1')).status).toBe(200);
      const blob = await client.fetch(`/v2/proxy/up/lib/base/blobs/${layer.digest}`);
      expect(blob.status).toBe(200);
      await blob.arrayBuffer();
    }
    await client.pushBlob('team/junk', randomBytes(5000));
    await runGc(keel.config, { stores: 'registry', dryRun: false, deleteUntagged: false }, { clock: { now: () => Date.now() + 1000 }, logger: pino({ level: 'silent' }) });

    // Served on the separate metrics port, and not on the main one.
    expect((await fetch(`${keel.url}/metrics`)).status).toBe(404);
    const m = await scrape(`http://127.0.0.1:${keel.running.metricsAddress?.port}/metrics`);
    expect(m('keel_http_requests_total{route="manifest",method="PUT",status="201"}')).toBe(1);
    expect(m('keel_http_requests_total{route="manifest",method="GET",status="200"}')).toBe(2);
    expect(m('keel_http_requests_total{route="uploads",method="POST",status="202"}')).toBe(1);
    expect(m('keel_http_request_duration_seconds_count{route="manifest",method="GET"}')).toBe(2);
    expect(m('keel_bytes_received_total{route="uploads"}')).toBeGreaterThan(20_000);
    expect(m('keel_bytes_served_total{route="proxy_blob"}')).toBeGreaterThan(2 * 20_000);
    expect(m('keel_proxy_cache_misses_total{upstream="up",kind="manifest"}')).toBe(1);
    expect(m('keel_proxy_cache_hits_total{upstream="up",kind="manifest"}')).toBe(1);
    expect(m('keel_proxy_cache_misses_total{upstream="up",kind="blob"}')).toBe(1);
    expect(m('keel_proxy_cache_hits_total{upstream="up",kind="blob"}')).toBe(1);
    expect(m('keel_upstream_requests_total{member="up",method="GET",status="200"}')).toBe(2);
    expect(m('keel_upstream_bytes_total{upstream="up",member="up"}')).toBe(layer.size);
    expect(m('keel_upstream_request_duration_seconds_count{member="up"}')).toBe(2);
    expect(m('keel_uploads_in_progress')).toBe(1);
    expect(m('keel_store_bytes{store="registry"}')).toBeGreaterThan(20_000);
    expect(m('keel_store_bytes{store="proxy"}')).toBeGreaterThan(20_000);
    expect(m('keel_gc_last_deleted_blobs{store="registry"}')).toBe(1);
    expect(m('keel_gc_last_freed_bytes{store="registry"}')).toBe(5000);
    expect(m('keel_gc_last_run_timestamp_seconds')).toBeGreaterThan(0);
    expect(image.digest).toMatch(/^sha256:/);
  });

  test("process and runtime metrics carry the standard names stock dashboards use, Keel's own keep keel_", async () => {
    const text = await (await fetch(`http://127.0.0.1:${keel.running.metricsAddress?.port}/metrics`)).text();
    const names = new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => (/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l) ?? [''])[0]));
    for (const name of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect([name, names.has(name)]).toEqual([name, true]);
    }
    expect([...names].filter((n) => n.startsWith('keel_process_') || n.startsWith('keel_nodejs_'))).toEqual([]);
    expect([...names].filter((n) => !n.startsWith('keel_') && !n.startsWith('process_') && !n.startsWith('nodejs_'))).toEqual([]);
  });
});
