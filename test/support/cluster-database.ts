// The shared index the replica e2e tests run on: one SQLite file on this host (WAL), until
// the PostgreSQL index is on this branch.
import { sharedSqlite, type DatabaseFactory } from './keel-cluster.js';

export function clusterDatabase(): DatabaseFactory {
  return sharedSqlite;
}
