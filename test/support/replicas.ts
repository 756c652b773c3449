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
import pg from 'pg';
import { spawnKeel, type KeelChild } from './keel-process.js';

export interface Replicas {
  /** The replicas by name, in start order. */
  byName: Map<string, KeelChild>;
  get(name: string): KeelChild;
  /** Starts one more replica with the same settings (after the others: the index exists). */
  add(name: string): Promise<KeelChild>;
  /** The directory holding the shared index and storage. */
  shared: string;
  /** The shared index: a SQLite file, or the PostgreSQL URL given. */
  database: string;
  /** The claim on an upload session as the shared index holds it (read while the replicas run). */
  claimOf(id: string): Promise<UploadClaim | undefined>;
  stop(): Promise<void>;
}

export interface UploadClaim {
  claimed_by: string | null;
  claimed_until: number;
}

export interface ReplicaOptions {
  /** A postgres:// URL for the shared index; default: a SQLite file in the shared dir. */
  database?: string;
  /** registry_storage / proxy_storage (and [s3]); default: directories under the shared dir. */
  storageToml?: string;
  /** Settings under [cluster] besides the replica's name. */
  clusterToml?: string;
  /** Tables of settings (`[auth]` ...), after the storage settings (which may end in `[s3]`). */
  extraToml?: string;
}

export async function startReplicas(names: readonly string[], options: ReplicaOptions = {}): Promise<Replicas> {
  const shared = await mkdtemp(join(tmpdir(), 'keel-replicas-'));
  const database = options.database ?? join(shared, 'index.db');
  const postgres = options.database !== undefined;
  const storageToml = options.storageToml ?? `registry_storage = "${join(shared, 'registry')}"\nproxy_storage = "${join(shared, 'proxy')}"\n`;
  const byName = new Map<string, KeelChild>();
  let reader: Database.Database | undefined;
  let client: pg.Client | undefined;
  const stop = async (): Promise<void> => {
    reader?.close();
    reader = undefined;
    await client?.end().catch(() => undefined);
    client = undefined;
    await Promise.allSettled([...byName.values()].map((r) => r.stop()));
    await rm(shared, { recursive: true, force: true });
  };
  const add = async (name: string): Promise<KeelChild> => {
    if (byName.has(name)) throw new Error(`replica ${name} exists already`);
    const toml = `database = "${database}"\ntemporary_registry_storage = "${join(shared, 'tmp')}"\n${storageToml}\n${options.extraToml ?? ''}\n[cluster]\nreplica = "${name}"\n${options.clusterToml ?? ''}\n`;
    const replica = await spawnKeel(toml);
    byName.set(name, replica);
    return replica;
  };
  try {
    for (const name of names) await add(name);
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
    add,
    shared,
    database,
    async claimOf(id) {
      const sql = `SELECT claimed_by, claimed_until FROM uploads WHERE id = ${postgres ? '$1' : '?'}`;
      if (!postgres) {
        reader ??= new Database(database, { readonly: true, fileMustExist: true });
        return reader.prepare(sql).get(id) as UploadClaim | undefined;
      }
      if (!client) {
        client = new pg.Client({ connectionString: database });
        // The server going away (a test stopping it) ends this reader; it must not crash the test file.
        client.on('error', () => undefined);
        await client.connect();
      }
      const row = (await client.query<{ claimed_by: string | null; claimed_until: string | number }>(sql, [id])).rows[0];
      return row && { claimed_by: row.claimed_by, claimed_until: Number(row.claimed_until) };
    },
    stop,
  };
}
