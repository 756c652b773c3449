// The PostgreSQL test server (postgres.ts): it starts in about a second, gives each caller a
// fresh database, and leaves nothing behind when stopped, or when its test file dies
// (global teardown's stale-daemon guard).
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, jest, test } from '@jest/globals';
import pg from 'pg';
import { killRecorded } from './global-teardown.js';
import { processRunning } from './e2e/processes.js';
import { startPostgres, type PostgresServer } from './postgres.js';

jest.setTimeout(120_000);

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('startPostgres', () => {
  test('serves SQL on a loopback port, gives fresh databases, then stops and removes its dir', async () => {
    const started = Date.now();
    const server = await startPostgres();
    const startMs = Date.now() - started;
    try {
      expect(server.url).toMatch(/^postgres:\/\/keel@127\.0\.0\.1:\d+\/postgres$/);
      expect(await processRunning(server.pid)).toBe(true);
      const version = await query(server.url, 'SHOW server_version');
      expect(String(version.rows[0]?.server_version)).toMatch(/^15\./);

      const a = await server.createDatabase();
      const b = await server.createDatabase();
      expect(a).not.toBe(b);
      await query(a, 'CREATE TABLE only_in_a (x INT)');
      await expect(query(b, 'SELECT * FROM only_in_a')).rejects.toMatchObject({ code: '42P01' });
      process.stdout.write(`postgres: started in ${startMs} ms\n`);
    } finally {
      const stopping = Date.now();
      await server.stop();
      process.stdout.write(`postgres: stopped in ${Date.now() - stopping} ms\n`);
    }
    expect(await processRunning(server.pid)).toBe(false);
    expect(await exists(server.dir)).toBe(false);
  });

  test('two servers started at once get their own ports', async () => {
    const [a, b] = await Promise.all([startPostgres(), startPostgres()]);
    try {
      expect(a.port).not.toBe(b.port);
      await query(a.url, 'CREATE DATABASE only_in_a');
      const listed = await query(b.url, "SELECT datname FROM pg_database WHERE datname = 'only_in_a'");
      expect(listed.rowCount).toBe(0);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    expect(await processRunning(a.pid)).toBe(false);
    expect(await processRunning(b.pid)).toBe(false);
  });

  test('global teardown kills a server whose test file died without stopping it', async () => {
    const runDir = await mkdtemp(join(tmpdir(), 'keel-pg-guard-'));
    const saved = process.env.TEST_KEEL_RUN_DIR;
    process.env.TEST_KEEL_RUN_DIR = runDir;
    let server: PostgresServer | undefined;
    try {
      server = await startPostgres();
      expect(await exists(join(runDir, 'daemons'))).toBe(true);
      await killRecorded(runDir);
      // SIGKILL is asynchronous: wait until the kernel has ended the server (a zombie counts as ended).
      for (let i = 0; i < 500 && (await processRunning(server.pid)); i++) await new Promise((r) => setTimeout(r, 20));
      expect(await processRunning(server.pid)).toBe(false);
      expect(await exists(server.dir)).toBe(false);
    } finally {
      process.env.TEST_KEEL_RUN_DIR = saved;
      await server?.stop();
      await rm(runDir, { recursive: true, force: true });
    }
  });
});
