// What a PostgreSQL failure becomes above the index (pg-errors.ts): the SQLSTATEs and driver
// errnos PostgreSQL documents for a full disk, a lost or refused connection and contention,
// as the typed errors the HTTP layer answers 507 and 503 (with Retry-After) for.
import { describe, expect, test } from '@jest/globals';
import { RetryLaterError } from '../../../src/primitives/errors.js';
import { asPgStorageError, isPgConflict } from '../../../src/storage/pg/pg-errors.js';
import { StorageFullError } from '../../../src/storage/storage-errors.js';

function pgError(code: string, message = `error ${code}`): Error {
  return Object.assign(new Error(message), { code });
}

describe('PostgreSQL errors', () => {
  test('disk_full (53100) is a StorageFullError', () => {
    expect(asPgStorageError(pgError('53100', 'could not extend file: No space left on device'))).toBeInstanceOf(StorageFullError);
  });

  test.each([
    ['53300', 'too many clients already'],
    ['57P01', 'terminating connection due to administrator command'],
    ['57P03', 'the database system is starting up'],
    ['08006', 'connection failure'],
    ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'],
    ['ECONNRESET', 'read ECONNRESET'],
  ])('%s (%s) is a 503 with Retry-After', (code, message) => {
    const err = asPgStorageError(pgError(code, message));
    expect(err).toBeInstanceOf(RetryLaterError);
    expect((err as RetryLaterError).status).toBe(503);
    expect((err as RetryLaterError).headers['Retry-After']).toBe('1');
    expect((err as RetryLaterError).cause).toMatchObject({ code });
  });

  test('the driver\'s own "Connection terminated" and pool timeout are 503 too', () => {
    expect(asPgStorageError(new Error('Connection terminated unexpectedly'))).toBeInstanceOf(RetryLaterError);
    expect(asPgStorageError(new Error('timeout exceeded when trying to connect'))).toBeInstanceOf(RetryLaterError);
  });

  test('a bug stays a bug: a syntax error or a constraint violation is passed on as it is', () => {
    const syntax = pgError('42601', 'syntax error at or near "SELEC"');
    expect(asPgStorageError(syntax)).toBe(syntax);
    const unique = pgError('23505', 'duplicate key value violates unique constraint');
    expect(asPgStorageError(unique)).toBe(unique);
  });

  test('serialization failures and deadlocks are conflicts (the transaction runs again)', () => {
    expect(isPgConflict(pgError('40001'))).toBe(true);
    expect(isPgConflict(pgError('40P01'))).toBe(true);
    expect(isPgConflict(pgError('23505'))).toBe(false);
  });
});
