// Scheduled warming ([[proxy.sync]]) against a real upstream (Debian's docker-registry,
// Distribution 2.8, on loopback), driven by a ManualClock: the server syncs each entry on
// start and whenever the clock says it is due again; the test waits for each run's end (the
// scheduler's record of it), never for a time. The upstream's access log shows what was asked:
// a HEAD per unchanged tag on a later run, a GET only for what moved.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { loggerInto, type LogLine } from '../support/log-lines.js';
import { ManualClock } from '../support/manual-clock.js';
import { metric } from '../support/metrics-text.js';
import { Client, OCI_INDEX, OCI_MANIFEST, type Descriptor } from '../support/oci-client.js';
import { streamPull } from '../support/stream-pull.js';
import type { SyncRun } from '../../src/proxy/sync-scheduler.js';

interface Image {
  digest: string;
  manifest: object;
  blobs: Descriptor[];
}

const HOUR = 3_600_000;
let upstream: Distribution;
let keel: KeelProcess;
let up: Client;
let client: Client;
const clock = new ManualClock();
const logs: LogLine[] = [];
const app = new Map<string, Image>();
let amd64: Image;
let arm64: Image;
let indexDigest: string;
/** Runs waited for so far, per entry. */
const seen = [0, 0];

/** The next run of each entry, once ended (both are due after each advance in this file). */
async function nextRuns(): Promise<[SyncRun, SyncRun]> {
  const runs = await Promise.all([0, 1].map((entry) => keel.running.sync.completed(entry, ++(seen[entry] as number))));
  return runs as [SyncRun, SyncRun];
}

const log = (method: string, path: string): Promise<number> => countRequests(upstream, method, path);
const blobGets = (image: Image): Promise<number[]> => Promise.all(image.blobs.map((b) => log('GET', `/blobs/${b.digest}`)));

beforeAll(async () => {
  await ensureTools(['docker-registry']);
  upstream = await startDistribution();
  up = new Client(upstream.url);
  for (const tag of ['1.0', '1.1', '1.2', 'latest']) app.set(tag, await up.pushImage('sync/app', tag, { layers: 1, layerSize: 64 * 1024 }));
  amd64 = await up.pushImage('sync/multi', 'amd64-only', { layers: 2, layerSize: 64 * 1024 });
  arm64 = await up.pushImage('sync/multi', 'arm64-only', { layers: 1, layerSize: 64 * 1024 });
  indexDigest = (
    await up.pushIndex('sync/multi', 'v1', [
      { image: amd64, platform: { architecture: 'amd64', os: 'linux' } },
      { image: arm64, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
    ])
  ).digest;
  keel = await startKeel({
    clock,
    logger: loggerInto(logs),
    toml: `
[proxy]
allow = ["localhost"]
tag_ttl = "24h"

[proxy.upstreams.up]
url = "${upstream.url}"
allow_private = true
timeout = "10s"

[[proxy.sync]]
upstream = "up"
repositories = ["sync/app"]
tags = "1\\\\..*"
newest = 2
interval = "6h"

[[proxy.sync]]
upstream = "up"
repositories = ["sync/multi"]
tags = "v1"
platforms = ["linux/arm64"]
interval = "1h"
pin = true
`,
  });
  client = new Client(keel.url);
}, 300_000);

afterAll(async () => {
  await keel?.destroy();
  await upstream?.stop();
});

describe('[[proxy.sync]] on a schedule', () => {
  test('on start, each entry warms the tags its regex and newest select, and only its platforms', async () => {
    const [first, second] = await nextRuns();
    // 1.0, 1.1 and 1.2 match "1\..*"; newest = 2 keeps the last two; "latest" does not match.
    expect(first).toMatchObject({ entry: 0, outcome: 'synced', references: ['proxy/up/sync/app:1.1', 'proxy/up/sync/app:1.2'] });
    expect(first.images.map((i) => i.digest)).toEqual([app.get('1.1')?.digest, app.get('1.2')?.digest]);
    expect(await log('GET', '/sync/app/manifests/1.1')).toBe(1);
    expect(await log('GET', '/sync/app/manifests/1.2')).toBe(1);
    expect(await log('GET', '/sync/app/manifests/1.0')).toBe(0);
    expect(await log('GET', '/sync/app/manifests/latest')).toBe(0);
    expect([...(await blobGets(app.get('1.1') as Image)), ...(await blobGets(app.get('1.2') as Image))]).toEqual([1, 1, 1, 1]);
    expect([...(await blobGets(app.get('1.0') as Image)), ...(await blobGets(app.get('latest') as Image))]).toEqual([0, 0, 0, 0]);

    expect(second).toMatchObject({ entry: 1, outcome: 'synced', references: ['proxy/up/sync/multi:v1'] });
    expect(second.images[0]).toMatchObject({ digest: indexDigest, manifests: 2, pinned: true });
    expect(await blobGets(arm64)).toEqual([1, 1]);
    expect(await blobGets(amd64)).toEqual([0, 0, 0]);
    const db = new Database(keel.config.database, { readonly: true });
    try {
      expect(db.prepare('SELECT upstream, repository, reference FROM proxy_pins').all()).toEqual([{ upstream: 'up', repository: 'sync/multi', reference: 'v1' }]);
    } finally {
      db.close();
    }
    expect(first.nextAt).toBe(clock.now() + 6 * HOUR);
    expect(second.nextAt).toBe(clock.now() + HOUR);
  });

  test('nothing runs before it is due', async () => {
    clock.advance(HOUR - 1);
    // tick() starts whatever is due at once (a run in progress shows in isRunning).
    keel.running.sync.tick();
    expect([keel.running.sync.isRunning(0), keel.running.sync.isRunning(1)]).toEqual([false, false]);
    expect(keel.running.sync.runs(0)).toHaveLength(1);
    expect(keel.running.sync.runs(1)).toHaveLength(1);
    clock.advance(1);
  });

  test('the next run re-checks unchanged tags with a HEAD, not a GET, even within tag_ttl', async () => {
    // Entry 2 is due now (1h), entry 1 after 6h: both run once at +6h.
    const before = { get11: await log('GET', '/sync/app/manifests/1.1'), get12: await log('GET', '/sync/app/manifests/1.2'), getV1: await log('GET', '/sync/multi/manifests/v1') };
    clock.advance(5 * HOUR);
    const [first, second] = await nextRuns();
    expect(first).toMatchObject({ outcome: 'synced', references: ['proxy/up/sync/app:1.1', 'proxy/up/sync/app:1.2'] });
    expect(second).toMatchObject({ outcome: 'synced', references: ['proxy/up/sync/multi:v1'] });
    expect(await log('HEAD', '/sync/app/manifests/1.1')).toBe(1);
    expect(await log('HEAD', '/sync/app/manifests/1.2')).toBe(1);
    expect(await log('HEAD', '/sync/multi/manifests/v1')).toBe(1);
    expect({ get11: await log('GET', '/sync/app/manifests/1.1'), get12: await log('GET', '/sync/app/manifests/1.2'), getV1: await log('GET', '/sync/multi/manifests/v1') }).toEqual(before);
    expect(first.images.map((i) => i.fetched.blobs)).toEqual([0, 0]);
    expect([...(await blobGets(app.get('1.1') as Image)), ...(await blobGets(app.get('1.2') as Image)), ...(await blobGets(arm64))]).toEqual([1, 1, 1, 1, 1, 1]);
  });

  test('a tag moved upstream is refreshed on the next sync, within tag_ttl; a new tag is picked up', async () => {
    const moved = await up.pushImage('sync/app', '1.2', { layers: 1, layerSize: 64 * 1024 });
    const added = await up.pushImage('sync/app', '1.3', { layers: 1, layerSize: 64 * 1024 });
    clock.advance(6 * HOUR);
    const [first] = await nextRuns();
    expect(first).toMatchObject({ outcome: 'synced', references: ['proxy/up/sync/app:1.2', 'proxy/up/sync/app:1.3'] });
    expect(first.images.map((i) => i.digest)).toEqual([moved.digest, added.digest]);
    // The HEAD saw the new digest; the manifest came by that digest, once; 1.1 is no longer selected.
    expect(await log('HEAD', '/sync/app/manifests/1.2')).toBe(2);
    expect(await log('GET', `/sync/app/manifests/${moved.digest}`)).toBe(1);
    expect(await log('HEAD', '/sync/app/manifests/1.1')).toBe(1);
    expect([...(await blobGets(moved)), ...(await blobGets(added))]).toEqual([1, 1, 1, 1]);
    app.set('1.2', moved);
    app.set('1.3', added);
    // Keel answers the tag with the new image straight from its cache (within tag_ttl: no upstream request).
    const heads = await log('HEAD', '/sync/app/manifests/1.2');
    const res = await client.fetch('/v2/proxy/up/sync/app/manifests/1.2', { headers: { Accept: OCI_MANIFEST } });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(moved.digest);
    expect(await log('HEAD', '/sync/app/manifests/1.2')).toBe(heads);
  });

  test('a replica that does not get the lease skips the run and asks the upstream nothing', async () => {
    const db = new Database(keel.config.database);
    db.pragma('busy_timeout = 10000');
    try {
      db.prepare('INSERT INTO download_leases (key, holder, holder_url, expires_at) VALUES (?, ?, ?, ?)').run('sync:1', 'another-replica', 'http://127.0.0.1:1', clock.now() + 100 * HOUR);
      const heads = await log('HEAD', '/sync/app/manifests/');
      clock.advance(6 * HOUR);
      const [first, second] = await nextRuns();
      expect(first).toMatchObject({ outcome: 'skipped', references: [], nextAt: clock.now() + 6 * HOUR });
      expect(second.outcome).toBe('synced');
      expect(await log('HEAD', '/sync/app/manifests/')).toBe(heads);
      expect(logs.some((l) => l.msg === 'sync: another replica holds this entry; run skipped' && l.sync === 1)).toBe(true);
    } finally {
      db.prepare('DELETE FROM download_leases WHERE key = ?').run('sync:1');
      db.close();
    }
  });
});

describe('with the upstream stopped', () => {
  test('the synced images are served from the cache, byte for byte', async () => {
    await upstream.stop();
    for (const tag of ['1.1', '1.2', '1.3']) {
      const image = app.get(tag) as Image;
      const res = await client.fetch(`/v2/proxy/up/sync/app/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(image.digest);
      for (const b of image.blobs) expect(await streamPull(`${keel.url}/v2/proxy/up/sync/app/blobs/${b.digest}`)).toEqual({ status: 200, digest: b.digest, bytes: b.size });
    }
    const index = await client.fetch('/v2/proxy/up/sync/multi/manifests/v1', { headers: { Accept: `${OCI_INDEX}, ${OCI_MANIFEST}` } });
    expect(index.status).toBe(200);
    expect(index.headers.get('docker-content-digest')).toBe(indexDigest);
    expect((await client.fetch(`/v2/proxy/up/sync/multi/manifests/${arm64.digest}`)).status).toBe(200);
    for (const b of arm64.blobs) expect(await streamPull(`${keel.url}/v2/proxy/up/sync/multi/blobs/${b.digest}`)).toEqual({ status: 200, digest: b.digest, bytes: b.size });
  });

  test('a failing run is logged and retried after 1m, then 2m', async () => {
    clock.advance(6 * HOUR);
    const [first] = await nextRuns();
    expect(first.outcome).toBe('failed');
    expect(first.error).toMatch(/^sync\/app: listing its tags: upstream "up"/);
    expect(first.nextAt).toBe(clock.now() + 60_000);
    expect(logs.some((l) => l.msg === 'sync: run failed' && l.sync === 1 && l.retry_in_ms === 60_000)).toBe(true);
    clock.advance(60_000);
    const [again] = await nextRuns();
    expect(again.outcome).toBe('failed');
    expect(again.nextAt).toBe(clock.now() + 120_000);
  });

  test('the retry delay doubles with each failure in a row, never beyond the interval', async () => {
    // Both entries have failed twice and are due in 2m; entry 2's interval (1h) caps it first.
    const delays: Array<[number, number]> = [];
    for (let delay = 120_000; delay <= 1_920_000; delay *= 2) {
      clock.advance(delay);
      const [first, second] = await nextRuns();
      expect([first.outcome, second.outcome]).toEqual(['failed', 'failed']);
      delays.push([first.nextAt - clock.now(), second.nextAt - clock.now()]);
    }
    expect(delays).toEqual([
      [240_000, 240_000],
      [480_000, 480_000],
      [960_000, 960_000],
      [1_920_000, 1_920_000],
      [3_840_000, 3_600_000],
    ]);
  });
});

describe('metrics', () => {
  test('count each entry\'s runs by outcome, its failures in a row, its last success and its images warm or failed', async () => {
    const text = await (await client.fetch('/metrics')).text();
    const runs = (entry: string, outcome: string): number | undefined => metric(text, 'keel_sync_runs_total', { entry, upstream: 'up', outcome });
    // Entry 1: on start, +6h, the moved tag; skipped once for the lease; 2 + 5 failures with the upstream stopped.
    expect([runs('1', 'synced'), runs('1', 'skipped'), runs('1', 'failed')]).toEqual([3, 1, 7]);
    expect([runs('2', 'synced'), runs('2', 'skipped'), runs('2', 'failed')]).toEqual([4, undefined, 7]);
    expect(metric(text, 'keel_sync_consecutive_failures', { entry: '1', upstream: 'up' })).toBe(7);
    // What the last run that read its tag lists selected (1.2 and 1.3; v1): all warm. The runs
    // that could not list the tags since leave those figures.
    const images = (entry: string, state: string): number | undefined => metric(text, 'keel_sync_images', { entry, upstream: 'up', state });
    expect([images('1', 'warm'), images('1', 'failed'), images('2', 'warm'), images('2', 'failed')]).toEqual([2, 0, 1, 0]);
    const lastSynced = keel.running.sync.runs(0).filter((r) => r.outcome === 'synced').at(-1) as SyncRun;
    expect(metric(text, 'keel_sync_last_success_timestamp_seconds', { entry: '1', upstream: 'up' })).toBeCloseTo((lastSynced.nextAt - 6 * HOUR) / 1000, 3);
  });
});

describe('closing the server', () => {
  test('stops the schedule: nothing runs once it is closed, however late it is', async () => {
    await keel.running.close();
    const before = [keel.running.sync.runs(0).length, keel.running.sync.runs(1).length];
    clock.advance(24 * HOUR);
    keel.running.sync.tick();
    // Both entries are long due: a scheduler still going would have started them here.
    expect([keel.running.sync.isRunning(0), keel.running.sync.isRunning(1)]).toEqual([false, false]);
    expect([keel.running.sync.runs(0).length, keel.running.sync.runs(1).length]).toEqual(before);
  });
});

describe('a bad [[proxy.sync]] entry', () => {
  test('refuses to start, naming the entry', async () => {
    await expect(startKeel({ toml: '[[proxy.sync]]\nupstream = "nowhere"\nrepositories = ["a"]\ntags = "v(1"\ninterval = "1h"\n' })).rejects.toThrow(/\[\[proxy\.sync\]\] entry 1 \(upstream "nowhere"\)/);
  });
});
