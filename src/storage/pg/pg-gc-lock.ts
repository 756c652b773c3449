/**
 * The GC lock on PostgreSQL: a session-level advisory lock (pg_try_advisory_lock) held by a
 * connection of its own for the whole run. Session-level, not transaction-level: GC runs many
 * transactions, and the lock must outlive each. When the GC process dies its connection
 * closes and the server frees the lock at once: no stale lock to wait out, unlike a lock file.
 * Advisory locks are per database, so one lock covers every replica on that database.
 */
import pg from 'pg';
import { GcLockedError, type GcLock } from '../gc-lock.js';
import { PG_LOCK_KEYS } from './pg-lock-keys.js';

const KEY = PG_LOCK_KEYS.gc.toString();

/** `host:port/database` of a connection string, for a message that never shows a password. */
function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'the configured database';
  }
}

export class PgGcLock implements GcLock {
  private client: pg.Client | undefined;

  constructor(private readonly url: string) {}

  /** Where the lock is, as GcLockedError names it. */
  get lockName(): string {
    return `PostgreSQL advisory lock ${KEY} on ${where(this.url)}`;
  }

  async acquire(): Promise<void> {
    // keepAlive: the connection idles through the whole run; a middlebox must not drop it.
    const client = new pg.Client({ connectionString: this.url, keepAlive: true });
    // A dropped connection frees the lock on the server; the error event must not crash GC
    // (each delete re-states its condition, so a second run starting then is still safe).
    client.on('error', () => undefined);
    await client.connect();
    let locked = false;
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [KEY]);
      locked = rows[0]?.locked === true;
    } finally {
      if (!locked) await client.end().catch(() => undefined);
    }
    if (!locked) throw new GcLockedError(this.lockName);
    this.client = client;
  }

  async release(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // Ending the session frees the lock too; unlocking first says so explicitly.
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [KEY]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
