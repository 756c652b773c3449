/**
 * The one way Keel talks to PostgreSQL: a pg.Pool with Keel's settings, and three ways to
 * query it (rows, one, run) either on the pool or inside a transaction. Every failure leaves
 * here translated (pg-errors.ts): a full disk as a StorageFullError, an unreachable or
 * overloaded database as a RetryLaterError, never a raw driver error a route would turn into
 * a 500. BIGINT (int8) columns come back as numbers, not the driver's default strings:
 * Keel keeps epoch milliseconds and byte sizes there, far below 2^53.
 *
 * Transactions: `transaction(work, { isolation: 'serializable' })` runs `work` in a
 * SERIALIZABLE transaction and runs it again, whole, when PostgreSQL aborts it for a
 * serialization failure (40001) or a deadlock (40P01), up to a bounded number of attempts;
 * `work` must therefore do nothing but queries on `tx` (no side effects outside the
 * database). Every transaction that re-checks what another deletes (putManifest against
 * GC's deletes) must be SERIALIZABLE on both sides: PostgreSQL's serializable snapshot
 * isolation then aborts one of two transactions whose reads and writes cross.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { RetryLaterError } from '../../primitives/errors.js';
import { asPgStorageError, isPgConflict, pgCode } from './pg-errors.js';

export type PgValue = string | number | boolean | null | Buffer | readonly string[] | readonly number[];

/** Queries on the pool or on a transaction's client. */
export interface PgQueries {
  rows<R extends pg.QueryResultRow>(sql: string, values?: readonly PgValue[]): Promise<R[]>;
  /** The first row, or undefined. */
  one<R extends pg.QueryResultRow>(sql: string, values?: readonly PgValue[]): Promise<R | undefined>;
  /** The number of rows the statement changed (or returned). */
  run(sql: string, values?: readonly PgValue[]): Promise<number>;
}

export interface PgPoolOptions {
  /** Connections at most (config `database_pool_size`). */
  max: number;
  /** How long a query waits for a connection (a new one, or one of a full pool) before it is refused with 503. */
  connectionTimeoutMs?: number;
  /** A connection failed while idle in the pool (the database restarted): for the log. The pool replaces it. */
  onIdleError?: (err: Error) => void;
}

export interface TransactionOptions {
  isolation?: 'serializable' | 'read committed';
  /** Further errors (besides 40001/40P01) after which the whole transaction is run again. */
  retryOn?: (err: unknown) => boolean;
}

/** Tries of one transaction before contention is answered with 503 (each conflict means another transaction committed). */
const MAX_ATTEMPTS = 12;
const MAX_BACKOFF_MS = 64;
const INT8_OID = 20;

function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`int8 value ${text} does not fit a JavaScript number`);
  return n;
}

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * Queries on `target`. On the pool each failure is translated at once; inside a transaction
 * it stays raw, so that transaction() can tell a serialization failure (run again) from the
 * rest, and translates what it gives up on.
 */
function queriesOn(target: pg.Pool | pg.PoolClient, translate: boolean): PgQueries {
  async function exec<R extends pg.QueryResultRow>(sql: string, values: readonly PgValue[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await target.query<R>(sql, values as unknown[]);
    } catch (err) {
      throw translate ? asPgStorageError(err) : err;
    }
  }
  return {
    async rows<R extends pg.QueryResultRow>(sql: string, values?: readonly PgValue[]): Promise<R[]> {
      return (await exec<R>(sql, values)).rows;
    },
    async one<R extends pg.QueryResultRow>(sql: string, values?: readonly PgValue[]): Promise<R | undefined> {
      return (await exec<R>(sql, values)).rows[0];
    },
    async run(sql: string, values?: readonly PgValue[]): Promise<number> {
      return (await exec(sql, values)).rowCount ?? 0;
    },
  };
}

export class PgPool implements PgQueries {
  readonly pool: pg.Pool;
  private readonly direct: PgQueries;

  constructor(connectionString: string, options: PgPoolOptions) {
    this.pool = new pg.Pool({
      connectionString,
      max: options.max,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
      keepAlive: true,
      application_name: 'keel',
      types,
    });
    // Without a listener an idle connection's failure (a database restart) would end the process.
    this.pool.on('error', (err) => options.onIdleError?.(err));
    this.direct = queriesOn(this.pool, true);
  }

  rows<R extends pg.QueryResultRow>(sql: string, values?: readonly PgValue[]): Promise<R[]> {
    return this.direct.rows<R>(sql, values);
  }

  one<R extends pg.QueryResultRow>(sql: string, values?: readonly PgValue[]): Promise<R | undefined> {
    return this.direct.one<R>(sql, values);
  }

  run(sql: string, values?: readonly PgValue[]): Promise<number> {
    return this.direct.run(sql, values);
  }

  /** `work` in one transaction on one connection, run again whole on contention (see the header). */
  async transaction<T>(work: (tx: PgQueries) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const begin = options.isolation === 'serializable' ? 'BEGIN ISOLATION LEVEL SERIALIZABLE' : 'BEGIN';
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(begin, work);
      } catch (err) {
        const retry = isPgConflict(err) || (options.retryOn?.(err) ?? false);
        if (!retry) throw asPgStorageError(err);
        if (attempt >= MAX_ATTEMPTS) {
          const error = new RetryLaterError('UNAVAILABLE', 'the index is busy with concurrent changes; try again', 1, { attempts: attempt, sqlstate: pgCode(err) ?? null });
          error.cause = err;
          throw error;
        }
        // Jittered, growing pause: the transactions that conflicted do not meet again at once.
        await sleep(Math.random() * Math.min(MAX_BACKOFF_MS, 2 ** attempt));
      }
    }
  }

  private async once<T>(begin: string, work: (tx: PgQueries) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw asPgStorageError(err);
    }
    let broken: unknown;
    // A connection that fails between two statements of `work` emits 'error' with no query to
    // fail: without a listener that would end the process. The next statement fails instead.
    const lost = (err: Error): void => {
      broken = err;
    };
    client.on('error', lost);
    try {
      const tx = queriesOn(client, false);
      await tx.run(begin);
      const result = await work(tx);
      await tx.run('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackFailed) {
        // The connection itself failed: the pool must not hand it out again.
        broken = rollbackFailed;
      }
      throw err;
    } finally {
      client.off('error', lost);
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}
