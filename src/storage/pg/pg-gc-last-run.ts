/**
 * The last GC run's record in PostgreSQL (table gc_last_run of migration 006 in
 * pg-schema.ts): one row, replaced by each completed run, read by every replica's
 * /metrics.
 */
import type { PgQueries } from './pg-pool.js';
import type { LastGcRunStore } from '../last-gc-run.js';

export class PgGcLastRun implements LastGcRunStore {
  constructor(private readonly db: PgQueries) {}

  async read(): Promise<unknown> {
    return (await this.db.one<{ summary: unknown }>('SELECT summary FROM gc_last_run WHERE id = 1'))?.summary;
  }

  async write(run: object): Promise<void> {
    await this.db.run(
      'INSERT INTO gc_last_run (id, summary) VALUES (1, $1::jsonb) ON CONFLICT (id) DO UPDATE SET summary = excluded.summary',
      [JSON.stringify(run)],
    );
  }
}
