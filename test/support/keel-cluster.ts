// Several Keel replicas as separate processes (scripts/keel of the run's build copy) behind
// nginx, sharing one index and one bucket on a real Ceph RGW: the deployment of issue 18.
//
// Layout under the cluster's temp dir:
//   shared/index.db      the index every replica opens, when it is SQLite (WAL, one host)
//   rN/keel.toml         replica N's configuration (also what scripts/gc is given)
//   rN/keel.log          its JSON log lines (stdout and stderr), appended across restarts
//   rN/tmp/              its TMPDIR; rN/storage/ its local files (temporary storage, key)
//
// The database is chosen by the caller (ClusterDatabase): a shared SQLite file works for
// processes on one host, PostgreSQL is what replicas on several hosts need. Every replica gets
// `cluster.replica = "rN"` and `cluster.advertise_url = "http://127.0.0.1:<its port>"`; its port
// is fixed up front so a restarted replica comes back at the address nginx and its peers know.
//
// Each process is a child of this node process with a parent-death signal (e2e/processes.ts)
// and is recorded for jest's global teardown (stale-daemons.ts); stop() ends nginx, the
// replicas, then the database and the S3 cluster, each by its PID.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from './build.js';
import { freePort } from './e2e/ports.js';
import { allReady, httpResponds, processRunning, sleep, startProcess, type ManagedProcess } from './e2e/processes.js';
import { makeTempDir, type TempDir } from './e2e/temp-dir.js';
import { keelS3Storage, type S3Storage } from './keel-on-s3.js';
import { startNginx, type Nginx } from './nginx.js';
import { startS3, type S3Server } from './s3-server.js';
import { forgetDaemons, recordDaemons } from './stale-daemons.js';

/** How the replicas reach their shared index. */
export interface ClusterDatabase {
  /** The value of Keel's `database` setting. */
  readonly database: string;
  /** What it is, for messages ("sqlite", "postgres"). */
  readonly kind: string;
  stop(): Promise<void>;
}

export type DatabaseFactory = (sharedDir: string) => Promise<ClusterDatabase>;

/** One SQLite file on this host, opened by every replica. */
export const sharedSqlite: DatabaseFactory = async (sharedDir) => ({
  database: join(sharedDir, 'index.db'),
  kind: 'sqlite',
  stop: async () => undefined,
});

export type LogEntry = { msg?: string; [field: string]: unknown };

export interface Replica {
  /** "r0", "r1", ...: its cluster.replica name. */
  readonly name: string;
  readonly index: number;
  readonly port: number;
  /** http://127.0.0.1:PORT, the replica itself (not through nginx). */
  readonly url: string;
  readonly host: string;
  readonly configFile: string;
  readonly logFile: string;
  /** The PID of the running process (changes on restart). */
  pid(): number;
  isRunning(): boolean;
  /** Every JSON log line the replica wrote, across restarts. */
  logs(): Promise<LogEntry[]>;
}

export interface StartClusterOptions {
  /** Replicas (3). */
  replicas?: number;
  /** The shared index (sharedSqlite by default). */
  database?: DatabaseFactory;
  /** TOML placed before the S3 tables ([proxy.upstreams...], [auth], [gc]...), same on every replica. */
  toml?: string;
  /** Top-level keys for every replica (they must come before any table). */
  topLevelToml?: string;
  /** Files to put in each replica's dir before it starts (an htpasswd, say), by name. */
  files?: Record<string, string>;
  /** Memory of the Ceph OSD (startS3's memoryBytes). */
  s3MemoryBytes?: number;
}

export interface KeelCluster {
  /** The load balancer: what clients use. */
  readonly lb: Nginx;
  readonly replicas: readonly Replica[];
  readonly s3: S3Server;
  readonly storage: S3Storage;
  readonly database: ClusterDatabase;
  readonly dir: string;
  /** SIGKILL of replica i; resolves once the process has exited. */
  kill(i: number): Promise<void>;
  /** Starts replica i again with the same config and port; resolves once it listens. */
  restart(i: number): Promise<void>;
  /**
   * Resolves with the first log line of replica i (from `from` on, an index into logs()) that
   * `match` accepts; polls the log file, rejects after `timeoutMs` with what it saw.
   */
  waitForLog(i: number, match: (entry: LogEntry) => boolean, options?: { from?: number; timeoutMs?: number }): Promise<LogEntry>;
  /**
   * For failure messages: warnings and errors (level >= 40) and aborted requests every replica
   * logged, with its name, and nginx's warnings and errors. With `path`, only request lines of
   * that path count (a load generator's aborted requests elsewhere are not the problem).
   */
  problems(path?: string): Promise<string[]>;
  /** Idempotent: stops nginx, every replica, the database and the S3 cluster. */
  stop(): Promise<void>;
}

const START_ATTEMPTS = 5;
const LOG_POLL_MS = 50;

function parseLog(text: string): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      entries.push(JSON.parse(line) as LogEntry);
    } catch {
      // a line cut by a SIGKILL
    }
  }
  return entries;
}

interface ReplicaState {
  name: string;
  index: number;
  port: number;
  dir: string;
  configFile: string;
  logFile: string;
  proc: ManagedProcess | undefined;
}

function replicaToml(options: StartClusterOptions, state: ReplicaState, database: string, storage: S3Storage): string {
  // storage.toml is registry_storage + proxy_storage (top level) then [s3]; [cluster] and the
  // caller's tables go between them.
  const [topLevel, s3Table] = storage.toml.split('[s3]') as [string, string];
  return `listen = "127.0.0.1:${state.port}"
database = ${JSON.stringify(database)}
temporary_registry_storage = ${JSON.stringify(join(state.dir, 'storage', 'tmp'))}
${topLevel}
${options.topLevelToml ?? ''}

[log]
level = "info"

[cluster]
replica = "${state.name}"
advertise_url = "http://127.0.0.1:${state.port}"

${options.toml ?? ''}

[s3]${s3Table}`;
}

async function startReplica(state: ReplicaState): Promise<ManagedProcess> {
  const offset = (await readFile(state.logFile, 'utf8').catch(() => '')).length;
  const listening = async (): Promise<boolean> => {
    const text = (await readFile(state.logFile, 'utf8').catch(() => '')).slice(offset);
    return parseLog(text).some((e) => e.msg === 'keel listening' && e.port === state.port);
  };
  const proc = await startProcess({
    name: `keel ${state.name}`,
    file: build.keel,
    args: ['--config', state.configFile],
    env: { ...process.env, TMPDIR: join(state.dir, 'tmp') },
    cwd: state.dir,
    logFile: state.logFile,
    ready: allReady(listening, httpResponds({ url: `http://127.0.0.1:${state.port}/health` }, [200])),
    readyTimeoutMs: 60_000,
    stopTimeoutMs: 15_000,
  });
  return proc;
}

/**
 * Starts the S3 cluster, the database, the replicas and nginx, in that order; on a failure
 * stops what it started and throws.
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<KeelCluster> {
  const count = options.replicas ?? 3;
  const tmp: TempDir = await makeTempDir('cluster');
  const dir = tmp.path;
  await writeFile(join(dir, '.keel-s3'), '');
  const stops: (() => Promise<void>)[] = [];
  const states: ReplicaState[] = [];
  // One record for every replica: each one's command line names its config file, which is
  // inside the cluster dir (the teardown matches the marker within an argument), and the
  // teardown removes the cluster dir (it holds the marker file) once they are killed.
  const recordReplicas = async (): Promise<void> => {
    const pids = states.flatMap((s) => (s.proc?.isRunning() ? [s.proc.pid] : []));
    await recordDaemons(dir, dir, pids);
  };
  const stopAll = async (): Promise<void> => {
    const failures: string[] = [];
    for (const stop of [...stops].reverse()) {
      try {
        await stop();
      } catch (e) {
        failures.push(e instanceof Error ? e.message : String(e));
      }
    }
    await tmp.remove();
    if (failures.length > 0) throw new Error(`keel cluster: stopping failed:\n${failures.join('\n')}`);
  };
  try {
    const s3 = await startS3(options.s3MemoryBytes === undefined ? {} : { memoryBytes: options.s3MemoryBytes });
    stops.push(() => s3.stop());
    const storage = await keelS3Storage(s3, { redirect: false });
    const shared = join(dir, 'shared');
    await mkdir(shared);
    const database = await (options.database ?? sharedSqlite)(shared);
    stops.push(() => database.stop());

    for (let i = 0; i < count; i++) {
      const rdir = join(dir, `r${i}`);
      await mkdir(join(rdir, 'tmp'), { recursive: true });
      await mkdir(join(rdir, 'storage'), { recursive: true });
      for (const [name, text] of Object.entries(options.files ?? {})) await writeFile(join(rdir, name), text);
      states.push({ name: `r${i}`, index: i, port: 0, dir: rdir, configFile: join(rdir, 'keel.toml'), logFile: join(rdir, 'keel.log'), proc: undefined });
    }
    stops.push(async () => {
      const failures: string[] = [];
      for (const s of states) {
        const proc = s.proc;
        if (!proc) continue;
        await proc.stop();
        if (await processRunning(proc.pid)) failures.push(`${s.name} (pid ${proc.pid}) still runs after stop`);
      }
      await forgetDaemons(dir);
      if (failures.length > 0) throw new Error(failures.join('\n'));
    });
    // Replicas start one after the other: the first one runs the migrations (until the
    // database takes a migration lock, several first starts at once would race).
    for (const s of states) {
      for (let attempt = 1; ; attempt++) {
        s.port = await freePort();
        await writeFile(s.configFile, replicaToml(options, s, database.database, storage));
        try {
          s.proc = await startReplica(s);
          break;
        } catch (e) {
          if (attempt < START_ATTEMPTS && /EADDRINUSE/.test(String(e))) continue;
          throw e;
        }
      }
      await recordReplicas();
    }
    const lb = await startNginx(states.map((s) => `127.0.0.1:${s.port}`));
    stops.push(() => lb.stop());

    const replicas: Replica[] = states.map((s) => ({
      name: s.name,
      index: s.index,
      port: s.port,
      url: `http://127.0.0.1:${s.port}`,
      host: `127.0.0.1:${s.port}`,
      configFile: s.configFile,
      logFile: s.logFile,
      pid: () => {
        if (!s.proc) throw new Error(`${s.name} has no process`);
        return s.proc.pid;
      },
      isRunning: () => s.proc?.isRunning() ?? false,
      logs: async () => parseLog(await readFile(s.logFile, 'utf8').catch(() => '')),
    }));
    const state = (i: number): ReplicaState => {
      const s = states[i];
      if (!s) throw new Error(`no replica ${i}`);
      return s;
    };
    let stopping: Promise<void> | undefined;
    return {
      lb,
      replicas,
      s3,
      storage,
      database,
      dir,
      async kill(i) {
        const s = state(i);
        const proc = s.proc;
        if (!proc || !proc.isRunning()) throw new Error(`${s.name} is not running`);
        process.kill(proc.pid, 'SIGKILL');
        await proc.exited;
        await proc.stop(); // reaps what the group may have left
      },
      async restart(i) {
        const s = state(i);
        if (s.proc?.isRunning()) throw new Error(`${s.name} is still running`);
        s.proc = await startReplica(s);
        await recordReplicas();
      },
      async waitForLog(i, match, opts = {}) {
        const s = state(i);
        const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
        for (;;) {
          const entries = parseLog(await readFile(s.logFile, 'utf8').catch(() => '')).slice(opts.from ?? 0);
          const found = entries.find(match);
          if (found) return found;
          if (Date.now() > deadline) throw new Error(`${s.name} logged no matching line within ${opts.timeoutMs ?? 120_000} ms; last lines:\n${entries.slice(-10).map((e) => JSON.stringify(e)).join('\n')}`);
          await sleep(LOG_POLL_MS);
        }
      },
      async problems(path?: string) {
        const out: string[] = [];
        for (const r of replicas) {
          for (const e of await r.logs()) {
            if (path !== undefined && e.msg === 'request' && e.path !== path) continue;
            if ((typeof e.level === 'number' && e.level >= 40) || e.aborted === true) out.push(`${r.name}: ${JSON.stringify(e)}`);
          }
        }
        const nginxLines = (await lb.errorLog()).split('\n').filter((l) => /\[(warn|error|crit|alert|emerg)\]/.test(l));
        return [...out, ...nginxLines.map((l) => `nginx: ${l}`)];
      },
      stop() {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (e) {
    await stopAll().catch((stopError: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\nand stopping failed: ${String(stopError)}`);
    });
    throw e;
  }
}

/** The replica (by name) each request whose path passes `match` was logged by, in log order per replica. */
export async function requestsByReplica(cluster: KeelCluster, match: (entry: LogEntry) => boolean): Promise<Map<string, LogEntry[]>> {
  const out = new Map<string, LogEntry[]>();
  for (const r of cluster.replicas) {
    out.set(r.name, (await r.logs()).filter((e) => e.msg === 'request' && match(e)));
  }
  return out;
}
