/**
 * Several Keel processes (keel-process.ts) sharing one index and one storage, as replicas
 * behind a load balancer would: the same `database`, the same temporary root and the same
 * stores (a directory, or a bucket through `storageToml`). Each is named through
 * cluster.replica. Started one after the other (the first runs the migrations), stopped by PID.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { spawnKeel, type KeelChild } from './keel-process.js';

export interface Replicas {
  /** The replicas by name, in start order. */
  byName: Map<string, KeelChild>;
  get(name: string): KeelChild;
  /** The directory holding the shared index and storage. */
  shared: string;
  /** The shared SQLite index file. */
  database: string;
  /** Reads the shared index (read-only) while the replicas run. */
  query<T>(sql: string, ...params: unknown[]): T | undefined;
  stop(): Promise<void>;
}

export interface ReplicaOptions {
  /** registry_storage / proxy_storage (and [s3]); default: directories under the shared dir. */
  storageToml?: string;
  /** Settings under [cluster] besides the replica's name. */
  clusterToml?: string;
  /** TOML before everything else (top-level keys). */
  extraToml?: string;
}

export async function startReplicas(names: readonly string[], options: ReplicaOptions = {}): Promise<Replicas> {
  const shared = await mkdtemp(join(tmpdir(), 'keel-replicas-'));
  const database = join(shared, 'index.db');
  const storageToml = options.storageToml ?? `registry_storage = "${join(shared, 'registry')}"\nproxy_storage = "${join(shared, 'proxy')}"\n`;
  const byName = new Map<string, KeelChild>();
  let reader: Database.Database | undefined;
  const stop = async (): Promise<void> => {
    reader?.close();
    reader = undefined;
    await Promise.allSettled([...byName.values()].map((r) => r.stop()));
    await rm(shared, { recursive: true, force: true });
  };
  try {
    for (const name of names) {
      const toml = `database = "${database}"\ntemporary_registry_storage = "${join(shared, 'tmp')}"\n${options.extraToml ?? ''}\n${storageToml}\n[cluster]\nreplica = "${name}"\n${options.clusterToml ?? ''}\n`;
      byName.set(name, await spawnKeel(toml));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    byName,
    get(name) {
      const replica = byName.get(name);
      if (!replica) throw new Error(`no replica ${name}`);
      return replica;
    },
    shared,
    database,
    query<T>(sql: string, ...params: unknown[]): T | undefined {
      reader ??= new Database(database, { readonly: true, fileMustExist: true });
      return reader.prepare(sql).get(...params) as T | undefined;
    },
    stop,
  };
}
