/**
 * DownloadLeases on PostgreSQL (table download_leases), shared by every replica. A claim is
 * one statement: INSERT ... ON CONFLICT DO UPDATE ... WHERE the lease is the claimer's own
 * or has expired, RETURNING. PostgreSQL locks the existing row and evaluates that WHERE on
 * its latest committed version, so of two replicas claiming at once exactly one gets a row
 * back. The loser then reads who holds it; when that lease went in between (released, or
 * expired by `now`), the claim is tried again, a bounded number of times.
 */
import { RetryLaterError } from '../../primitives/errors.js';
import type { DownloadLeases, LeaseClaim } from '../download-leases.js';
import type { PgPool } from './pg-pool.js';

interface LeaseRow {
  key: string;
  holder: string;
  holder_url: string;
  expires_at: number;
}

const CLAIM = `
  INSERT INTO download_leases AS l (key, holder, holder_url, expires_at) VALUES ($1, $2, $3, $4)
  ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, holder_url = excluded.holder_url, expires_at = excluded.expires_at
  WHERE l.holder = excluded.holder OR l.expires_at <= $5
  RETURNING l.key`;
const CURRENT = 'SELECT key, holder, holder_url, expires_at FROM download_leases WHERE key = $1';
/** Each failed try means another replica's claim or release committed meanwhile; a few cover any real race. */
const CLAIM_TRIES = 5;

export class PgDownloadLeases implements DownloadLeases {
  constructor(private readonly db: PgPool) {}

  async claim(key: string, holder: string, holderUrl: string, ttlMs: number, now: number): Promise<LeaseClaim> {
    for (let attempt = 1; ; attempt++) {
      if ((await this.db.run(CLAIM, [key, holder, holderUrl, now + ttlMs, now])) === 1) return { won: true };
      const row = await this.db.one<LeaseRow>(CURRENT, [key]);
      if (row && row.holder !== holder && row.expires_at > now) {
        return { won: false, current: { key: row.key, holder: row.holder, holderUrl: row.holder_url, expiresAt: row.expires_at } };
      }
      // Released (or taken and let go again) between the claim and the read: claim again.
      if (attempt >= CLAIM_TRIES) throw new RetryLaterError('UNAVAILABLE', 'download lease keeps changing hands; try again', 1, { key });
    }
  }

  async renew(key: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    return (await this.db.run('UPDATE download_leases SET expires_at = $1 WHERE key = $2 AND holder = $3', [now + ttlMs, key, holder])) === 1;
  }

  async release(key: string, holder: string): Promise<void> {
    await this.db.run('DELETE FROM download_leases WHERE key = $1 AND holder = $2', [key, holder]);
  }
}
