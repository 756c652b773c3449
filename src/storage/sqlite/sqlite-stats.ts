/** Figures read at metrics-scrape time and readiness checks, from the index. */
import type Database from 'better-sqlite3';
import type { StoreStats } from '../store-stats.js';

export type { StoreStats };

export class SqliteStats implements StoreStats {
  private readonly s;

  constructor(db: Database.Database) {
    this.s = {
      ping: db.prepare<[], { one: number }>('SELECT 1 AS one'),
      // Kept by triggers as rows come and go (migration 007): a scrape reads three rows, never a table.
      total: db.prepare<[string], { n: number }>('SELECT value AS n FROM store_totals WHERE name = ?'),
    };
  }

  async ping(): Promise<boolean> {
    try {
      return this.s.ping.get()?.one === 1;
    } catch {
      return false;
    }
  }

  async uploadsInProgress(): Promise<number> {
    return this.s.total.get('uploads')?.n ?? 0;
  }

  async storeBytes(): Promise<{ registry: number; proxy: number }> {
    return { registry: this.s.total.get('registry_bytes')?.n ?? 0, proxy: this.s.total.get('proxy_bytes')?.n ?? 0 };
  }
}
