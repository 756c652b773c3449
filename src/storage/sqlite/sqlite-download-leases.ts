/**
 * DownloadLeases in the SQLite index (table download_leases of migration 005): processes on
 * one host sharing the index file share the leases. Each step is one IMMEDIATE transaction,
 * so a claim's look and take cannot interleave with another process's.
 */
import type Database from 'better-sqlite3';
import type { DownloadLease, DownloadLeases, LeaseClaim } from '../download-leases.js';
import type { SqliteWriter } from './sqlite-writer.js';

interface LeaseRow {
  key: string;
  holder: string;
  holder_url: string;
  expires_at: number;
}

export class SqliteDownloadLeases implements DownloadLeases {
  private readonly claimTx;
  private readonly renewTx;
  private readonly releaseTx;

  constructor(db: Database.Database, writer: SqliteWriter) {
    const get = db.prepare<[string], LeaseRow>('SELECT key, holder, holder_url, expires_at FROM download_leases WHERE key = ?');
    const put = db.prepare<[string, string, string, number]>(
      `INSERT INTO download_leases (key, holder, holder_url, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT(key) DO UPDATE SET holder = excluded.holder, holder_url = excluded.holder_url, expires_at = excluded.expires_at`,
    );
    const extend = db.prepare<[number, string, string]>('UPDATE download_leases SET expires_at = ? WHERE key = ? AND holder = ?');
    const drop = db.prepare<[string, string]>('DELETE FROM download_leases WHERE key = ? AND holder = ?');
    this.claimTx = writer.transaction((key: string, holder: string, holderUrl: string, ttlMs: number, now: number): LeaseClaim => {
      const row = get.get(key);
      if (row && row.holder !== holder && row.expires_at > now) {
        const current: DownloadLease = { key: row.key, holder: row.holder, holderUrl: row.holder_url, expiresAt: row.expires_at };
        return { won: false, current };
      }
      put.run(key, holder, holderUrl, now + ttlMs);
      return { won: true };
    });
    this.renewTx = writer.transaction((key: string, holder: string, ttlMs: number, now: number): boolean => extend.run(now + ttlMs, key, holder).changes === 1);
    this.releaseTx = writer.transaction((key: string, holder: string): void => {
      drop.run(key, holder);
    });
  }

  claim(key: string, holder: string, holderUrl: string, ttlMs: number, now: number): Promise<LeaseClaim> {
    return this.claimTx(key, holder, holderUrl, ttlMs, now);
  }

  renew(key: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    return this.renewTx(key, holder, ttlMs, now);
  }

  release(key: string, holder: string): Promise<void> {
    return this.releaseTx(key, holder);
  }
}
