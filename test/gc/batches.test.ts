/**
 * GC holds the index's write lock one short batch at a time: between two write transactions
 * it releases the lock and pauses, so the server's waiting writes get their turn. Batches are
 * sized by how long the last one took (batches.ts), so the test holds what does not depend on
 * the machine's speed: the first batch's size, the bounds of every other, and the lock free
 * between every two. GC runs in
 * this process here, so every look the test takes happens between two of GC's (synchronous)
 * transactions: the row counts it sees are exactly the states GC left the lock free in.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { BATCH_HOLD_MS, BATCH_ROWS, MAX_BATCH_ROWS, MIN_BATCH_ROWS, nextBatchSize } from '../../src/gc/batches.js';
import { runGc } from '../../src/gc/run-gc.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';

const ROWS = 3 * MAX_BATCH_ROWS + 7;
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

test('GC deletes rows in write transactions of BATCH_ROWS first, then of MIN..MAX_BATCH_ROWS, releasing the lock between them', async () => {
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
  for (const states of [seen.links, seen.proxy]) {
    const batches = states.slice(1).map((n, i) => (states[i] ?? 0) - n);
    expect(states[0]).toBe(ROWS);
    expect(states[states.length - 1]).toBe(0);
    expect(batches[0]).toBe(BATCH_ROWS);
    // Every batch but the last (the rest of the rows) within the bounds; at least 4 of them.
    expect(batches.length).toBeGreaterThanOrEqual(4);
    for (const rows of batches.slice(0, -1)) {
      expect(rows).toBeGreaterThanOrEqual(MIN_BATCH_ROWS);
      expect(rows).toBeLessThanOrEqual(MAX_BATCH_ROWS);
    }
    expect(batches[batches.length - 1]).toBeLessThanOrEqual(MAX_BATCH_ROWS);
  }
}, 60_000);

test('the next batch is as many rows as the last one\'s pace fits in BATCH_HOLD_MS, within the bounds', () => {
  expect(nextBatchSize(500, BATCH_HOLD_MS)).toBe(500);
  expect(nextBatchSize(500, BATCH_HOLD_MS / 2)).toBe(1_000);
  expect(nextBatchSize(500, BATCH_HOLD_MS * 2)).toBe(250);
  expect(nextBatchSize(500, 0)).toBe(MAX_BATCH_ROWS);
  expect(nextBatchSize(5_000, 1)).toBe(MAX_BATCH_ROWS);
  expect(nextBatchSize(50, 10_000)).toBe(MIN_BATCH_ROWS);
});
