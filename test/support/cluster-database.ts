// The shared index the replica e2e tests run on: a PostgreSQL 15 of its own per cluster
// (test/support/postgres.ts), one fresh database in it, its URL as Keel's `database`, which
// is what replicas on several hosts use. TEST_CLUSTER_DATABASE=sqlite runs the same tests on
// one SQLite file all replicas open instead (one host only): the shape the replica work of
// issue 18 was first built on, kept to tell an index problem from a replica problem.
import { sharedSqlite, type DatabaseFactory } from './keel-cluster.js';
import { startPostgres } from './postgres.js';

const sharedPostgres: DatabaseFactory = async () => {
  const server = await startPostgres();
  try {
    return { database: await server.createDatabase(), kind: 'postgres', stop: () => server.stop() };
  } catch (e) {
    await server.stop();
    throw e;
  }
};

export function clusterDatabase(): DatabaseFactory {
  const chosen = process.env.TEST_CLUSTER_DATABASE ?? 'postgres';
  if (chosen === 'sqlite') return sharedSqlite;
  if (chosen === 'postgres') return sharedPostgres;
  throw new Error(`TEST_CLUSTER_DATABASE is "${chosen}": expected "postgres" (the default) or "sqlite"`);
}
