/** Figures read at metrics-scrape time and readiness checks, from the index. */
import type Database from 'better-sqlite3';
import type { StoreStats } from '../store-stats.js';

export type { StoreStats };

export class SqliteStats implements StoreStats {
  private readonly s;

  constructor(db: Database.Database) {
    this.s = {
      ping: db.prepare<[], { one: number }>('SELECT 1 AS one'),
      uploads: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM uploads'),
      registryBytes: db.prepare<[], { n: number | null }>('SELECT SUM(size) AS n FROM blobs'),
      proxyBytes: db.prepare<[], { n: number | null }>(
        `SELECT SUM(size) AS n FROM (SELECT digest, MAX(size) AS size FROM proxy_blobs GROUP BY digest
           UNION SELECT digest, MAX(size) FROM proxy_manifests GROUP BY digest)`,
      ),
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
    return this.s.uploads.get()?.n ?? 0;
  }

  async storeBytes(): Promise<{ registry: number; proxy: number }> {
    return { registry: this.s.registryBytes.get()?.n ?? 0, proxy: this.s.proxyBytes.get()?.n ?? 0 };
  }
}
