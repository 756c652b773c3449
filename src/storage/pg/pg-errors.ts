/**
 * What a PostgreSQL failure means to Keel, so nothing above the index sees a SQLSTATE or an
 * errno from the pg driver: a full disk is a StorageFullError (507 via the error handler);
 * a database that is unreachable, restarting, out of connections or that kept aborting a
 * transaction under contention is a RetryLaterError (503 UNAVAILABLE with Retry-After).
 * Anything else is a bug and stays as it is.
 */
import { RetryLaterError } from '../../primitives/errors.js';
import { StorageFullError } from '../storage-errors.js';

/** SQLSTATEs and errnos of the pg driver that mean "not now": the next try may work. */
const UNAVAILABLE_SQLSTATES = new Set([
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '53200', // out_of_memory
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, recovering)
  '57014', // query_canceled (statement_timeout)
  '55P03', // lock_not_available (lock_timeout)
  '40001', // serialization_failure, after the bounded retries
  '40P01', // deadlock_detected, after the bounded retries
  '25006', // read_only_sql_transaction (a standby answered: failover in progress)
]);
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const DISK_FULL = '53100';
/** Messages of the pg driver itself (no code) when a connection went away or the pool waited too long. */
const DRIVER_UNAVAILABLE = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is not open|terminating connection/i;

export function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A transaction aborted by contention (retry it whole). */
export function isPgConflict(err: unknown): boolean {
  const code = pgCode(err);
  return code === '40001' || code === '40P01';
}

export function isPgUnavailable(err: unknown): boolean {
  const code = pgCode(err);
  if (code !== undefined && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code) || code.startsWith('08'))) return true;
  return err instanceof Error && DRIVER_UNAVAILABLE.test(err.message);
}

/** `err` as the typed error Keel answers with; `err` itself when it is none of those. */
export function asPgStorageError(err: unknown): unknown {
  if (err instanceof StorageFullError || err instanceof RetryLaterError) return err;
  if (pgCode(err) === DISK_FULL) return new StorageFullError(err);
  if (isPgUnavailable(err)) {
    const error = new RetryLaterError('UNAVAILABLE', 'the index database is unavailable; try again', 1, { reason: (err as Error).message });
    error.cause = err;
    return error;
  }
  return err;
}
