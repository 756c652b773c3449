/**
 * Long read-only queries of a SQLite index file, run on a worker thread with a connection of
 * its own, so the calling thread goes on meanwhile (better-sqlite3 runs a query on the thread
 * that calls it, to the end).
 *
 * GC's registry plan is three scans over every link and blob (about 20 s at a million tags);
 * on the worker it overlaps the proxy cache's collection on GC's main thread. The statements
 * run in one read transaction, so they see one snapshot, as on the caller's connection. The
 * worker is a short script passed as source, so it runs the same from dist/ and under the test
 * runner (as file-hasher.ts's); it loads better-sqlite3 from the path this module resolves, so
 * it works from any working directory. One worker per call: it exits when its answer is sent.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.path, { readonly: true, fileMustExist: true });
  const statements = Object.entries(workerData.queries).map(([name, sql]) => [name, db.prepare(sql)]);
  const rows = db.transaction(() => Object.fromEntries(statements.map(([name, s]) => [name, s.all(workerData.params)]))).deferred();
  parentPort.postMessage({ rows });
} catch (err) {
  parentPort.postMessage({ error: { message: String(err && err.message ? err.message : err), code: err && err.code } });
} finally {
  if (db) db.close();
}
`;

const driver = createRequire(import.meta.url).resolve('better-sqlite3');

interface Reply {
  rows?: Record<string, unknown[]>;
  error?: { message: string; code?: string };
}

/** An error of the worker's query, with SQLite's code (SQLITE_BUSY, ...) when it had one. */
export class ReadWorkerError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ReadWorkerError';
  }
}

/**
 * Runs every query of `queries` (name → SELECT) with the same named `params` on a read-only
 * connection of the database file at `path`, in one read transaction, on a worker thread.
 * Resolves with each query's rows under its name.
 */
export function readOnWorker<Q extends Record<string, string>>(path: string, queries: Q, params: Record<string, number | string>): Promise<{ [K in keyof Q]: unknown[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path, queries, params } });
    let settled = false;
    worker.once('message', (reply: Reply) => {
      settled = true;
      if (reply.rows) resolve(reply.rows as { [K in keyof Q]: unknown[] });
      else reject(new ReadWorkerError(`index query failed: ${reply.error?.message ?? 'unknown error'}`, reply.error?.code));
    });
    worker.once('error', (err) => {
      if (settled) return;
      settled = true;
      reject(new ReadWorkerError(`index query worker failed: ${err.message}`));
    });
    worker.once('exit', (code) => {
      if (settled) return;
      settled = true;
      reject(new ReadWorkerError(`index query worker stopped (exit code ${code}) before it answered`));
    });
  });
}
