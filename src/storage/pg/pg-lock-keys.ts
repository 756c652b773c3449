/**
 * The PostgreSQL advisory lock keys Keel takes, in one place so two never collide. Advisory
 * locks are per database: replicas on one database share them, other databases on the same
 * server do not. The high 32 bits spell "keel" so that other applications on the database
 * are unlikely to pick the same numbers.
 */
const BASE = 0x6b65656c_00000000n;

export const PG_LOCK_KEYS = {
  /** Held (transaction-scoped) while the schema is migrated: replicas starting at once migrate one at a time. */
  migrations: BASE + 1n,
  /** Reserved for garbage collection (one run at a time across replicas and cron jobs). */
  gc: BASE + 2n,
} as const;
