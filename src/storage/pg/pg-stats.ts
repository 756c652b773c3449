/** StoreStats on PostgreSQL: figures for metrics scrapes and readiness, over the network. */
import type { StoreStats } from '../store-stats.js';
import type { PgPool } from './pg-pool.js';

export class PgStats implements StoreStats {
  constructor(private readonly db: PgPool) {}

  async ping(): Promise<boolean> {
    try {
      return (await this.db.one<{ one: number }>('SELECT 1 AS one'))?.one === 1;
    } catch {
      return false;
    }
  }

  async uploadsInProgress(): Promise<number> {
    return (await this.db.one<{ n: number }>('SELECT count(*) AS n FROM uploads'))?.n ?? 0;
  }

  async storeBytes(): Promise<{ registry: number; proxy: number }> {
    // SUM of BIGINT is NUMERIC in PostgreSQL: cast back so the pool reads a number.
    const row = await this.db.one<{ registry: number; proxy: number }>(
      `SELECT (SELECT COALESCE(SUM(size), 0)::bigint FROM blobs) AS registry,
              (SELECT COALESCE(SUM(size), 0)::bigint FROM (
                 SELECT digest, MAX(size) AS size FROM proxy_blobs GROUP BY digest
                 UNION SELECT digest, MAX(size) FROM proxy_manifests GROUP BY digest) AS content) AS proxy`,
    );
    return { registry: row?.registry ?? 0, proxy: row?.proxy ?? 0 };
  }
}
