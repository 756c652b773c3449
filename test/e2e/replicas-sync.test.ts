// Scheduled sync ([[proxy.sync]]) on two Keel replicas (separate processes from the build)
// sharing one PostgreSQL index (Debian's PostgreSQL 15) and one proxy store directory, with the
// same entry, in front of a real upstream (Debian's docker-registry). Every entry is due when
// a replica starts, so both try the entry's lease (`sync:1` in download_leases) on start.
//
// So that both claims are in flight at the same moment (not one replica long done before the
// other starts), the test holds download_leases in EXCLUSIVE mode while the replicas start:
// each claim's INSERT waits on that lock, which pg_locks shows; then the upstream is frozen
// (SIGSTOP) and the lock let go, so both claims run at once and the winner cannot finish its run
// (it waits on the upstream's tag list) before the loser has read who holds the lease. The test
// waits for facts only: lock waiters, log lines, the lease row, the upstream's access log.
//
// Without that, a replica starting after the other's run ended finds the lease free and runs
// the entry as well, which is right too: it revalidates each tag with a HEAD and downloads
// nothing (a third replica shows it). What must never happen is two runs of the entry at once,
// or a manifest or blob fetched from the upstream twice. PostgreSQL only (the lock is its own).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { systemClock } from '../../src/primitives/clock.js';
import { migratePg } from '../../src/storage/pg/pg-migrations.js';
import { PgPool } from '../../src/storage/pg/pg-pool.js';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { ensureTools } from '../support/e2e/tools.js';
import type { KeelChild, LogEntry } from '../support/keel-process.js';
import { Client, OCI_MANIFEST, type Descriptor } from '../support/oci-client.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { startReplicas, type Replicas } from '../support/replicas.js';
import { streamPull } from '../support/stream-pull.js';

interface Image {
  digest: string;
  blobs: Descriptor[];
}

const TAGS = ['1.0', '1.1', '1.2'];
const NAMES = ['replica-a', 'replica-b'] as const;
const SYNCED = 'sync: run done';
const SKIPPED = 'sync: another replica holds this entry; run skipped';
/** Any line that ends a run of an entry. */
const RUN_ENDED = /^sync: (run done|run failed|another replica holds this entry; run skipped)$/;

let postgres: PostgresServer;
let upstream: Distribution;
let replicas: Replicas;
let database: string;
/** The test's own connection: the table lock, then reading leases and pins. */
let db: pg.Client;
const images = new Map<string, Image>();
let frozen = false;

const upstreamLog = (method: string, path: string): Promise<number> => countRequests(upstream, method, path);

/** SIGSTOP / SIGCONT of the upstream's process (which a stopped upstream no longer has). */
function freezeUpstream(on: boolean): void {
  if (frozen === on || !upstream.process.isRunning()) return;
  process.kill(upstream.process.pid, on ? 'SIGSTOP' : 'SIGCONT');
  frozen = on;
}

/** Polls a fact of the database until `done` accepts it; fails after a minute saying what it last saw. */
async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The JSON log lines a replica has written so far. */
function logLines(replica: KeelChild): LogEntry[] {
  return replica
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogEntry);
}

/** The value of keel_sync_runs_total for entry 1 and `outcome` on one replica's /metrics (0 when absent). */
async function syncRuns(replica: KeelChild, outcome: string): Promise<number> {
  const text = await (await fetch(`${replica.url}/metrics`)).text();
  for (const line of text.split('\n')) {
    const m = /^keel_sync_runs_total\{([^}]*)\} (\S+)$/.exec(line);
    const labels = m?.[1]?.split(',') ?? [];
    if (m && ['entry="1"', 'upstream="up"', `outcome="${outcome}"`].every((l) => labels.includes(l))) return Number(m[2]);
  }
  return 0;
}

beforeAll(async () => {
  await ensureTools(['docker-registry']);
  postgres = await startPostgres();
  upstream = await startDistribution();
  const up = new Client(upstream.url);
  for (const tag of TAGS) images.set(tag, await up.pushImage('sync/app', tag, { layers: 2, layerSize: 64 * 1024 }));
  database = await postgres.createDatabase();
  // The schema first (what the first replica would do on start), so that the lock below has a table.
  const pool = new PgPool(database, { max: 1 });
  try {
    await migratePg(pool, systemClock);
  } finally {
    await pool.end();
  }
  db = new pg.Client({ connectionString: database });
  // The server going away (a failed run's teardown) ends this connection; it must not crash the file.
  db.on('error', () => undefined);
  await db.connect();
  await db.query('BEGIN');
  // Claims (INSERT) wait on this; reads do not, so the replicas start and listen.
  await db.query('LOCK TABLE download_leases IN EXCLUSIVE MODE');
  replicas = await startReplicas(NAMES, {
    database,
    extraToml: `
[proxy]
allow = ["localhost"]
tag_ttl = "24h"

[proxy.upstreams.up]
url = "${upstream.url}"
allow_private = true
timeout = "10m"

[[proxy.sync]]
upstream = "up"
repositories = ["sync/app"]
tags = "1\\\\..*"
interval = "6h"
pin = true
`,
  });
}, 300_000);

afterAll(async () => {
  // Every step, whatever an earlier one did: each stops processes of its own.
  const steps = [() => upstream && freezeUpstream(false), () => db?.end(), () => replicas?.stop(), () => upstream?.stop(), () => postgres?.stop()];
  const failures: unknown[] = [];
  for (const step of steps) await Promise.resolve().then(step).catch((e: unknown) => failures.push(e));
  if (failures.length > 0) throw new Error(`stopping failed: ${failures.map(String).join('; ')}`);
}, 120_000);

test('two replicas claiming the due entry at once: one syncs, the other skips while it runs; each manifest and blob is fetched from the upstream once', async () => {
  const notRun = await upstreamLog('GET', '/tags/list');
  expect(notRun).toBe(0);
  // Both replicas' start-up claims are waiting on the table lock.
  await waitFor(
    'replicas waiting to claim a lease',
    async () =>
      Number(
        (
          await db.query<{ n: string }>(
            "SELECT count(DISTINCT l.pid) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_stat_activity a ON a.pid = l.pid WHERE c.relname = 'download_leases' AND NOT l.granted AND a.application_name = 'keel'",
          )
        ).rows[0]?.n,
      ),
    (n) => n === 2,
  );
  const ended = NAMES.map((name) => replicas.get(name).nextLog(RUN_ENDED));
  // A replica stopped by the teardown of a failed test rejects its waiter; that is no second failure.
  for (const p of ended) p.catch(() => undefined);
  freezeUpstream(true);
  let loserIndex: number;
  let winner: string;
  try {
    await db.query('COMMIT');
    // The first run to end is the loser's skip: the winner is inside its run, waiting on the frozen upstream.
    // (A replica that ran the entry without the lease would wait on the upstream too: no line
    // would come. The bound only turns that into a message; the skip takes two statements.)
    let bound: NodeJS.Timeout | undefined;
    const first = await Promise.race([
      ...ended.map((p, i) => p.then((entry): [number, LogEntry] => [i, entry])),
      new Promise<never>((_, reject) => {
        bound = setTimeout(() => reject(new Error('no replica ended its run within 60 s of the claims: none skipped the entry, so both are running it')), 60_000);
      }),
    ]).finally(() => clearTimeout(bound));
    loserIndex = first[0];
    winner = NAMES[1 - loserIndex] as string;
    expect(first[1]).toMatchObject({ msg: SKIPPED, sync: 1, upstream: 'up' });
    const lease = (await db.query<{ holder: string }>("SELECT holder FROM download_leases WHERE key = 'sync:1'")).rows;
    expect(lease).toHaveLength(1);
    expect(lease[0]?.holder.startsWith(`${winner}/`)).toBe(true);
  } finally {
    // Whatever happened above, the tests after this one have a working upstream.
    freezeUpstream(false);
  }
  const loser = NAMES[loserIndex] as string;
  const winnerLine = await (ended[1 - loserIndex] as Promise<LogEntry>);
  expect(winnerLine).toMatchObject({ msg: SYNCED, sync: 1, upstream: 'up', images: TAGS.length, fetched: TAGS.length * 3, cached: 0 });
  // The winner gave the lease up at the end of its run.
  expect((await db.query("SELECT holder FROM download_leases WHERE key = 'sync:1'")).rows).toEqual([]);

  // The upstream saw one run: one tag list, one GET of each tag's manifest and of each blob.
  expect(await upstreamLog('GET', '/v2/sync/app/tags/list')).toBe(1);
  for (const [tag, image] of images) {
    expect(await upstreamLog('GET', `/sync/app/manifests/${tag}`)).toBe(1);
    for (const b of image.blobs) expect(await upstreamLog('GET', `/blobs/${b.digest}`)).toBe(1);
  }
  // Each replica counts its own run.
  expect([await syncRuns(replicas.get(winner), 'synced'), await syncRuns(replicas.get(winner), 'skipped')]).toEqual([1, 0]);
  expect([await syncRuns(replicas.get(loser), 'synced'), await syncRuns(replicas.get(loser), 'skipped')]).toEqual([0, 1]);
}, 300_000);

test('a replica started after that run ended takes the free lease and syncs too: a HEAD per tag, nothing downloaded again', async () => {
  const heads = await Promise.all(TAGS.map((tag) => upstreamLog('HEAD', `/sync/app/manifests/${tag}`)));
  const late = await replicas.add('replica-c');
  // Its start-up run: the lines it has written so far, until one ends a run.
  const line = await waitFor(
    'replica-c ending its first run',
    async () => logLines(late).find((e) => typeof e.msg === 'string' && RUN_ENDED.test(e.msg)),
    (e) => e !== undefined,
  );
  expect(line).toMatchObject({ msg: SYNCED, sync: 1, images: TAGS.length, fetched: 0, cached: TAGS.length * 3 });
  expect(await Promise.all(TAGS.map((tag) => upstreamLog('HEAD', `/sync/app/manifests/${tag}`)))).toEqual(heads.map((n) => n + 1));
  expect(await upstreamLog('GET', '/v2/sync/app/tags/list')).toBe(2);
  for (const [tag, image] of images) {
    expect(await upstreamLog('GET', `/sync/app/manifests/${tag}`)).toBe(1);
    for (const b of image.blobs) expect(await upstreamLog('GET', `/blobs/${b.digest}`)).toBe(1);
  }
}, 120_000);

test('the run pinned every tag it warmed, in PostgreSQL (proxy_pins)', async () => {
  const pins = await db.query<{ upstream: string; repository: string; reference: string }>('SELECT upstream, repository, reference FROM proxy_pins ORDER BY reference');
  expect(pins.rows).toEqual(TAGS.map((reference) => ({ upstream: 'up', repository: 'sync/app', reference })));
});

test('with the upstream stopped, every replica serves every synced manifest and blob from the shared cache', async () => {
  await upstream.stop();
  for (const name of [...NAMES, 'replica-c']) {
    const client = new Client(replicas.get(name).url);
    for (const [tag, image] of images) {
      const res = await client.fetch(`/v2/proxy/up/sync/app/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
      expect([name, tag, res.status, res.headers.get('docker-content-digest')]).toEqual([name, tag, 200, image.digest]);
      for (const b of image.blobs) expect(await streamPull(`${client.url}/v2/proxy/up/sync/app/blobs/${b.digest}`)).toEqual({ status: 200, digest: b.digest, bytes: b.size });
    }
  }
});
