/**
 * Why a PostgreSQL index could not be opened at start, as the tail of one line an operator
 * can act on (the caller prefixes the setting and the URL with its password hidden): the
 * server refused the connection, the password or the user was refused, the database does not
 * exist, the host is unknown, nothing answered.
 */
import { RetryLaterError } from '../../primitives/errors.js';
import { pgCode } from './pg-errors.js';

export function describePgOpenFailure(failure: unknown): string {
  // The pool wraps what it cannot use (a RetryLaterError for a refused connection): the driver's error is the cause.
  const err = failure instanceof RetryLaterError && failure.cause !== undefined ? failure.cause : failure;
  const code = pgCode(err);
  const message = err instanceof Error && err.message !== '' ? err.message : String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return 'cannot connect to PostgreSQL: connection refused; check the host and port, and that PostgreSQL is running and listening there';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot connect to PostgreSQL: host not found (${message}); check the host name`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot connect to PostgreSQL: ${message}; check the host, port and firewall`;
    case '28P01':
      return `PostgreSQL refused the password (${message}); check the user and password in the URL or PGUSER/PGPASSWORD`;
    case '28000':
      return `PostgreSQL refused the connection (${message}); check the user, and pg_hba.conf on the server`;
    case '3D000':
      return `${message} on the PostgreSQL server; create it (createdb) or correct the database name`;
    case '42501':
      return `the PostgreSQL user may not create Keel's tables (${message}); grant it CREATE on the database's schema, or use the database owner`;
    default:
      if (/timeout exceeded when trying to connect/i.test(message)) return 'cannot connect to PostgreSQL: no answer within 10 s; check the host, port and firewall';
      return `cannot open the PostgreSQL index: ${message}${code ? ` (SQLSTATE/code ${code})` : ''}`;
  }
}
