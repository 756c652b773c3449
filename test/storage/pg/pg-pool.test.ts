// PgPool against a real PostgreSQL: a connection killed in the middle of a transaction (the
// database restarting, an operator's pg_terminate_backend) fails that transaction with a 503
// and does not end the process; the pool then serves on a new connection.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import pg from 'pg';
import { RetryLaterError } from '../../../src/primitives/errors.js';
import { PgPool } from '../../../src/storage/pg/pg-pool.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';

jest.setTimeout(120_000);

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

describe('PgPool', () => {
  test('a connection terminated between two statements of a transaction: 503, and the pool goes on', async () => {
    const url = await server.createDatabase();
    const pool = new PgPool(url, { max: 1 });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const failed = pool.transaction(async (tx) => {
        const pid = (await tx.one<{ pid: number }>('SELECT pg_backend_pid() AS pid'))?.pid;
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        // The server has closed this connection: the next statement cannot run.
        await tx.run('SELECT 1');
      });
      await expect(failed).rejects.toBeInstanceOf(RetryLaterError);
      // The broken connection was dropped, not handed out again.
      expect((await pool.one<{ one: number }>('SELECT 1 AS one'))?.one).toBe(1);
      expect(await pool.transaction(async (tx) => (await tx.one<{ n: number }>('SELECT 41 + 1 AS n'))?.n)).toBe(42);
    } finally {
      await admin.end();
      await pool.end();
    }
  });
});
