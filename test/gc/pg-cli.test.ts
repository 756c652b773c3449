// scripts/gc (the real CLI, as cron runs it) against Keel on a PostgreSQL index with
// filesystem storage: it deletes what nothing references and keeps what is referenced; the
// last run is recorded in the database, so /metrics of every replica on it reports it; a
// second GC started while the first holds the advisory lock exits 75 with the message the CLI
// gives for a held lock; killed with SIGKILL, the first run's lock goes with its connection.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import pg from 'pg';
import { PG_LOCK_KEYS } from '../../src/storage/pg/pg-lock-keys.js';
import { build } from '../support/build.js';
import { processRunning } from '../support/e2e/processes.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client } from '../support/oci-client.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { until } from '../storage/index-contract/gc-fixture.js';

jest.setTimeout(180_000);

let postgres: PostgresServer;
let url: string;
let keel: KeelProcess;
let replica: KeelProcess;
let dir: string;
let configFile: string;
let admin: pg.Client;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function gc(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(build.gc, args, (err, stdout, stderr) => done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** Where the filesystem store keeps a blob's content (src/storage/fs/paths.ts). */
function blobFile(digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(keel.config.registry_storage, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

/** Sessions of this database holding the GC's advisory lock (pg_locks shows a bigint key as two halves). */
async function gcLockHolders(): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database
     WHERE l.locktype = 'advisory' AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 1 AND l.granted AND d.datname = current_database()`,
    [(PG_LOCK_KEYS.gc >> 32n).toString(), (PG_LOCK_KEYS.gc & 0xffffffffn).toString()],
  );
  return rows.map((r) => r.pid);
}

/** A sample's value, by name and some of its labels (every series also carries the replica label). */
async function metric(server: KeelProcess, sample: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.running.metricsAddress?.port}/metrics`)).text();
  const [name, wanted = ''] = sample.replace('}', '').split('{') as [string, string?];
  const labels = wanted === '' ? [] : wanted.split(',');
  for (const line of text.split('\n')) {
    const m = /^([^{ ]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const has = (m[2] ?? '').split(',');
    if (labels.every((l) => has.includes(l))) return Number(m[3]);
  }
  return NaN;
}

beforeAll(async () => {
  postgres = await startPostgres();
  url = await postgres.createDatabase();
  const toml = `database = "${url}"\n[gc]\ngrace = "0s"\n[metrics]\nlisten = "127.0.0.1:0"\n`;
  keel = await startKeel({ toml });
  // Another replica on the same database (its own storage dir: it only serves /metrics here).
  replica = await startKeel({ toml });
  dir = await mkdtemp(join(tmpdir(), 'keel-pg-gc-cli-'));
  configFile = join(dir, 'keel.toml');
  const c = keel.config;
  await writeFile(
    configFile,
    `registry_storage = "${c.registry_storage}"\ntemporary_registry_storage = "${c.temporary_registry_storage}"\nproxy_storage = "${c.proxy_storage}"\ndatabase = "${url}"\n[log]\nlevel = "warn"\n[gc]\ngrace = "0s"\n`,
  );
  admin = new pg.Client({ connectionString: url });
  admin.on('error', () => undefined);
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await replica?.destroy();
  await keel?.destroy();
  await postgres?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('scripts/gc on a PostgreSQL index', () => {
  test('deletes what is unreferenced, keeps what is referenced; every replica reports the run on /metrics', async () => {
    const client = new Client(keel.url);
    const kept = await client.pushImage('team/kept', 'v1', { layers: 2, layerSize: 4096 });
    const junk = await client.pushBlob('team/junk', 'nobody references this');
    const gone = await client.pushImage('team/gone', 'v1', { layers: 1, layerSize: 2048 });
    expect((await client.fetch(`/v2/team/gone/manifests/${gone.digest}`, { method: 'DELETE' })).status).toBe(202);
    for (const b of [...kept.blobs, junk, ...gone.blobs]) expect(existsSync(blobFile(b.digest))).toBe(true);

    const dry = await gc(['--config', configFile, '--store', 'registry', '--dry-run', '--json']);
    expect([dry.code, dry.stderr]).toEqual([0, '']);
    // The junk blob, the deleted image's config, layer and manifest content.
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, stores: [{ store: 'registry', blobs: 4 }] });
    expect(existsSync(blobFile(junk.digest))).toBe(true);
    expect(await metric(replica, 'keel_gc_last_run_timestamp_seconds')).toBe(0);

    const real = await gc(['--config', configFile, '--store', 'registry', '--json']);
    expect([real.code, real.stderr]).toEqual([0, '']);
    const summary = JSON.parse(real.stdout) as { stores: Array<{ store: string; blobs: number; links: number; repositories: number; bytes: number }> };
    // Links: the junk blob's, the deleted image's config and layer (manifest content has none).
    expect(summary.stores[0]).toMatchObject({ store: 'registry', blobs: 4, links: 3, repositories: 2 });

    // Unreferenced: gone from the index and the store.
    const removed: Array<[string, string]> = [['team/junk', junk.digest], ...gone.blobs.map((b): [string, string] => ['team/gone', b.digest])];
    for (const [name, digest] of removed) {
      expect((await client.fetch(`/v2/${name}/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
      expect(existsSync(blobFile(digest))).toBe(false);
    }
    expect(existsSync(blobFile(gone.digest))).toBe(false);
    // Referenced: served as before.
    expect((await client.fetch('/v2/team/kept/manifests/v1')).status).toBe(200);
    for (const b of kept.blobs) {
      expect((await client.fetch(`/v2/team/kept/blobs/${b.digest}`, { method: 'HEAD' })).status).toBe(200);
      expect(existsSync(blobFile(b.digest))).toBe(true);
    }

    // The run is a row in the database: both replicas report it.
    for (const server of [keel, replica]) {
      expect(await metric(server, 'keel_gc_last_deleted_blobs{store="registry"}')).toBe(4);
      expect(await metric(server, 'keel_gc_last_freed_bytes{store="registry"}')).toBe(summary.stores[0]?.bytes);
      expect(await metric(server, 'keel_gc_last_run_timestamp_seconds')).toBeGreaterThan(0);
    }
  });

  test('a second GC while the first holds the lock exits 75; the first killed with SIGKILL frees the lock', async () => {
    // Stops the first run inside its work, holding the GC lock: its first index query waits.
    const blocker = new pg.Client({ connectionString: url });
    blocker.on('error', () => undefined);
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE blobs IN ACCESS EXCLUSIVE MODE');
    const first = spawn(build.gc, ['--config', configFile, '--store', 'registry'], { stdio: 'ignore' });
    const firstExit = new Promise<number | null>((resolve) => first.once('exit', (code, signal) => resolve(signal === 'SIGKILL' ? -9 : code)));
    try {
      await until(async () => (await gcLockHolders()).length === 1, 'the first GC holds the advisory lock');

      const second = await gc(['--config', configFile, '--store', 'registry']);
      expect(second.code).toBe(75);
      expect(second.stderr).toMatch(/^keel gc: another garbage collection is running \(lock PostgreSQL advisory lock \d+ on 127\.0\.0\.1:\d+\/keel_\d+\); not starting a second one\n$/);
      expect(second.stderr).not.toContain('postgres://');

      first.kill('SIGKILL');
      expect(await firstExit).toBe(-9);
      // The server sees the connection close and frees the session's lock.
      await until(async () => (await gcLockHolders()).length === 0, 'the killed GC session lets go of the lock');
    } finally {
      if (first.pid !== undefined && (await processRunning(first.pid))) first.kill('SIGKILL');
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
    const third = await gc(['--config', configFile, '--store', 'registry']);
    expect([third.code, third.stderr]).toEqual([0, '']);
    expect(third.stdout).toMatch(/^registry: freed 0 B/m);
  });

  test('a run on a database no server has migrated yet brings it to the schema and records the run; a dry run before it fails (exit 1) and creates nothing', async () => {
    const fresh = await postgres.createDatabase();
    const file = join(dir, 'fresh.toml');
    const storage = join(dir, 'fresh-storage');
    await writeFile(file, `registry_storage = "${storage}/registry"\ntemporary_registry_storage = "${storage}/tmp"\nproxy_storage = "${storage}/proxy"\ndatabase = "${fresh}"\n[log]\nlevel = "warn"\n`);
    const client = new pg.Client({ connectionString: fresh });
    await client.connect();
    try {
      const dry = await gc(['--config', file, '--dry-run']);
      expect(dry.code).toBe(1);
      expect((await client.query("SELECT to_regclass('gc_last_run') AS t")).rows[0]).toEqual({ t: null });
      const real = await gc(['--config', file, '--json']);
      expect([real.code, real.stderr]).toEqual([0, '']);
      const { rows } = await client.query<{ summary: { dryRun: boolean; finishedAt: number } }>('SELECT summary FROM gc_last_run');
      expect(rows).toEqual([{ summary: expect.objectContaining({ dryRun: false, finishedAt: expect.any(Number) }) }]);
    } finally {
      await client.end();
    }
  });
});
