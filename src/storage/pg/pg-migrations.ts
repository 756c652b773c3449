/**
 * Brings a PostgreSQL database to the schema of pg-schema.ts. Everything happens in one
 * transaction that first takes a transaction-scoped advisory lock (PG_LOCK_KEYS.migrations):
 * of any number of replicas starting at the same moment, one migrates while the others wait
 * for its commit, then find nothing left to do. A migration that fails rolls back whole and
 * the database stays at its old version. The applied versions are rows of
 * keel_schema_migrations (one per version, with the time it was applied).
 */
import type { Clock } from '../../primitives/clock.js';
import { PG_LOCK_KEYS } from './pg-lock-keys.js';
import type { PgPool } from './pg-pool.js';
import { PG_MIGRATIONS } from './pg-schema.js';

export interface MigrationResult {
  /** Schema version before and after. */
  from: number;
  to: number;
  /** The versions this call applied (empty when another process had done it). */
  applied: number[];
}

export async function migratePg(db: PgPool, clock: Clock, migrations: readonly string[] = PG_MIGRATIONS): Promise<MigrationResult> {
  return db.transaction(async (tx) => {
    await tx.run('SELECT pg_advisory_xact_lock($1)', [PG_LOCK_KEYS.migrations.toString()]);
    await tx.run('CREATE TABLE IF NOT EXISTS keel_schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
    const current = (await tx.one<{ version: number | null }>('SELECT max(version) AS version FROM keel_schema_migrations'))?.version ?? 0;
    if (current > migrations.length) {
      throw new Error(`the database's schema is version ${current}, newer than this Keel knows (${migrations.length}): run the newer Keel, or a database of its own`);
    }
    const applied: number[] = [];
    for (let version = current + 1; version <= migrations.length; version++) {
      await tx.run(migrations[version - 1] as string);
      await tx.run('INSERT INTO keel_schema_migrations (version, applied_at) VALUES ($1, $2)', [version, clock.now()]);
      applied.push(version);
    }
    return { from: current, to: migrations.length, applied };
  });
}
