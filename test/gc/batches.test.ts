/**
 * GC holds the index's write lock one small batch at a time: between two write transactions
 * it releases the lock and pauses, so the server's waiting writes get their turn. GC runs in
 * this process here, so every look the test takes happens between two of GC's (synchronous)
 * transactions: the row counts it sees are exactly the states GC left the lock free in.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { BATCH_ROWS } from '../../src/gc/batches.js';
import { runGc } from '../../src/gc/run-gc.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';

const ROWS = 3 * BATCH_ROWS + 7;
let keel: KeelProcess;
let db: Database.Database;

beforeAll(async () => {
  keel = await startKeel();
  db = new Database(keel.config.database);
  db.pragma('busy_timeout = 0');
  // Garbage older than any grace: unreferenced repository links (and their blobs), and proxy
  // blobs no cached manifest references, last read long ago.
  db.transaction(() => {
    db.prepare("INSERT INTO repositories (id, name, created_at) VALUES (1, 'batches/app', 0)").run();
    const blob = db.prepare('INSERT INTO blobs (digest, size, created_at) VALUES (?, 1, 0)');
    const link = db.prepare('INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (1, ?, 0)');
    const proxyBlob = db.prepare("INSERT INTO proxy_blobs (upstream, digest, size, fetched_at, last_access) VALUES ('up', ?, 1, 0, 0)");
    for (let i = 0; i < ROWS; i++) {
      const digest = `sha256:${i.toString(16).padStart(64, '0')}`;
      blob.run(digest);
      link.run(digest);
      proxyBlob.run(digest);
    }
  })();
});
afterAll(async () => {
  db.close();
  await keel.destroy();
});

test('GC deletes rows in write transactions of at most BATCH_ROWS, releasing the lock between them', async () => {
  const gc = parseConfig('[gc]\ngrace = "1h"\n[gc.proxy]\nmax_age = "1d"\n', 'gc test', keel.root).gc;
  let done = false;
  const run = runGc({ ...keel.config, gc }, { stores: 'all', dryRun: false, deleteUntagged: false }, { clock: { now: () => Date.now() }, logger: pino({ level: 'silent' }) }).finally(
    () => (done = true),
  );
  const count = (table: string): number => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  const seen = { links: [] as number[], proxy: [] as number[] };
  const note = (list: number[], n: number): void => {
    if (list[list.length - 1] !== n) list.push(n);
  };
  while (!done) {
    await new Promise((r) => setImmediate(r));
    // Taking the write lock without waiting: it is free whenever GC is between transactions.
    db.exec('BEGIN IMMEDIATE');
    note(seen.links, count('repository_blobs'));
    note(seen.proxy, count('proxy_blobs'));
    db.exec('ROLLBACK');
  }
  const summary = await run;
  expect(summary.stores.map((s) => [s.store, s.links, s.blobs])).toEqual([
    ['registry', ROWS, ROWS],
    ['proxy', 0, ROWS],
  ]);
  const steps = [ROWS, ROWS - BATCH_ROWS, ROWS - 2 * BATCH_ROWS, ROWS - 3 * BATCH_ROWS, 0];
  expect(seen.links).toEqual(steps);
  expect(seen.proxy).toEqual(steps);
}, 60_000);
