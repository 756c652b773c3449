/**
 * readOnWorker: read-only queries of an index file on a worker thread, with a connection of
 * its own (GC's registry plan runs there while GC's main thread collects the proxy cache).
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { readOnWorker, ReadWorkerError } from '../../../src/storage/sqlite/read-worker.js';

let dir: string;
let path: string;
let db: Database.Database;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-read-worker-'));
  path = join(dir, 'index.db');
  db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY, label TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO t (n, label) VALUES (?, ?)');
  db.transaction(() => {
    for (let n = 1; n <= 1000; n++) insert.run(n, `row-${n}`);
  })();
});
afterAll(async () => {
  db.close();
  await rm(dir, { recursive: true, force: true });
});

test('runs every query with the named parameters and answers each one\'s rows under its name', async () => {
  const rows = await readOnWorker(path, { small: 'SELECT n, label FROM t WHERE n <= @upTo ORDER BY n', count: 'SELECT COUNT(*) AS c FROM t WHERE n > @upTo' }, { upTo: 3 });
  expect(rows.small).toEqual([
    { n: 1, label: 'row-1' },
    { n: 2, label: 'row-2' },
    { n: 3, label: 'row-3' },
  ]);
  expect(rows.count).toEqual([{ c: 997 }]);
});

test('sees what the writer committed, on its own read-only connection (a write there fails)', async () => {
  db.prepare("INSERT INTO t (n, label) VALUES (1001, 'late')").run();
  expect((await readOnWorker(path, { last: 'SELECT label FROM t WHERE n = @n' }, { n: 1001 })).last).toEqual([{ label: 'late' }]);
  const write = readOnWorker(path, { w: "INSERT INTO t (n, label) VALUES (@n, 'x') RETURNING n" }, { n: 2000 });
  await expect(write).rejects.toBeInstanceOf(ReadWorkerError);
  await expect(write).rejects.toMatchObject({ code: 'SQLITE_READONLY' });
  expect(db.prepare('SELECT COUNT(*) AS c FROM t WHERE n = 2000').get()).toEqual({ c: 0 });
});

test('a bad query or a missing file is a ReadWorkerError with SQLite\'s message, not a hang', async () => {
  await expect(readOnWorker(path, { bad: 'SELECT nope FROM t' }, {})).rejects.toThrow(/no such column: nope/);
  await expect(readOnWorker(join(dir, 'missing.db'), { one: 'SELECT 1' }, {})).rejects.toBeInstanceOf(ReadWorkerError);
});
