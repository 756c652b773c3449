// A real PostgreSQL for tests: Debian's PostgreSQL 15, one throw-away cluster in a private
// temp dir, on a free loopback port, trust authentication for the superuser `keel`.
//
// PostgreSQL refuses to run as root, so initdb and pg_ctl run as the `postgres` user
// (`runuser -u postgres --`) on a dir that user owns. Layout:
//   data/        the cluster (initdb -D); postmaster.pid's first line is the server's PID
//   log          the server's log (pg_ctl -l)
//   .s.PGSQL.N   the unix socket (-k DIR), unused by the tests (they connect over TCP)
//   .keel-s3     marker: global teardown only removes dirs that carry it
//
// pg_ctl daemonizes the server (its parent is PID 1, not this node process), so a test file
// whose process dies cannot take it down: the PID is recorded for jest's global teardown
// (stale-daemons.ts), which kills it when its command line still names DIR/data. stop() is
// `pg_ctl -m fast -w stop` (about 0.1 s), then the dir goes. Start-up is about 1 s (initdb
// 0.9 s, pg_ctl start 0.1 s; measured in S3-TESTING.md and here).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './e2e/ports.js';
import { processRunning } from './e2e/processes.js';
import { CommandError, run, tail } from './e2e/run.js';
import { ensureTools, toolPath } from './e2e/tools.js';
import { forgetDaemons, recordDaemons } from './stale-daemons.js';

export interface PostgresServer {
  /** postgres://keel@127.0.0.1:PORT/postgres: the superuser on the maintenance database. */
  readonly url: string;
  readonly port: number;
  /** The postmaster's PID. */
  readonly pid: number;
  /** The cluster's private dir (server log in DIR/log). Removed by stop(). */
  readonly dir: string;
  /** A new, empty database (keel_<n>) and its URL: each test or suite gets its own state. */
  createDatabase(): Promise<string>;
  /** Idempotent: stops the server (fast shutdown) and removes the dir. */
  stop(): Promise<void>;
}

const USER = 'keel';
/**
 * The one role that must give a password (scram-sha-256, from 127.0.0.1): tests of a refused
 * password create it with CREATE ROLE ... PASSWORD. Set in pg_hba.conf before the server
 * starts, so no reload (asynchronous) is waited for. Every other role is trusted.
 */
export const PASSWORD_ROLE = 'keel_password';
const START_ATTEMPTS = 5;
/** Server log text when the port was taken between probe and bind. */
const BIND_FAILURE = /could not create any TCP\/IP sockets|Address already in use|could not bind/i;

function asPostgres(args: string[], cwd: string, timeoutMs = 60_000): ReturnType<typeof run> {
  return run(toolPath('runuser'), ['-u', 'postgres', '--', ...args], { cwd, timeoutMs });
}

/** Fails with a message naming what is missing, after installing the packages when root. */
async function ensurePostgres(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error('tests need to run as root to start PostgreSQL as the postgres user (runuser -u postgres); they are not');
  }
  await ensureTools(['initdb', 'pg_ctl', 'runuser']);
  const user = await run('id', ['-u', 'postgres'], { allowFailure: true });
  if (user.code !== 0) throw new Error('tests need the system user "postgres" (created by the Debian package postgresql); `id -u postgres` failed');
}

function urlOf(port: number, database: string): string {
  return `postgres://${USER}@127.0.0.1:${port}/${database}`;
}

async function readPid(dir: string): Promise<number> {
  const text = await readFile(join(dir, 'data', 'postmaster.pid'), 'utf8');
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`cannot read the server's PID from ${dir}/data/postmaster.pid: ${JSON.stringify(text.slice(0, 80))}`);
  return pid;
}

/** Starts the cluster on a free port, trying another port when one was taken meanwhile. */
async function startOn(dir: string): Promise<number> {
  const data = join(dir, 'data');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const options = `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1`;
    try {
      await asPostgres([toolPath('pg_ctl'), '-D', data, '-o', options, '-l', join(dir, 'log'), '-t', '60', '-w', 'start'], dir, 90_000);
      return port;
    } catch (err) {
      const log = await readFile(join(dir, 'log'), 'utf8').catch(() => '');
      if (attempt < START_ATTEMPTS && BIND_FAILURE.test(log)) {
        await writeFile(join(dir, 'log'), '').catch(() => undefined);
        continue;
      }
      throw new Error(`PostgreSQL did not start on 127.0.0.1:${port}: ${err instanceof Error ? err.message : String(err)}\n--- server log (tail) ---\n${tail(log)}`);
    }
  }
}

export async function startPostgres(): Promise<PostgresServer> {
  await ensurePostgres();
  const dir = await mkdtemp(join(tmpdir(), 'keel-pg-'));
  await writeFile(join(dir, '.keel-s3'), '');
  let pid: number | undefined;
  try {
    await run('chown', ['postgres:postgres', dir]);
    await asPostgres([toolPath('initdb'), '-D', join(dir, 'data'), '-A', 'trust', '-U', USER, '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'], dir);
    // pg_hba.conf is read top-down: this line comes before initdb's "trust" lines.
    const hba = join(dir, 'data', 'pg_hba.conf');
    await writeFile(hba, `host all ${PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n${await readFile(hba, 'utf8')}`);
    const port = await startOn(dir);
    pid = await readPid(dir);
    await recordDaemons(dir, join(dir, 'data'), [pid]);
    return server(dir, port, pid);
  } catch (err) {
    if (pid !== undefined) await stopCluster(dir).catch(() => undefined);
    await forgetDaemons(dir);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function stopCluster(dir: string): Promise<void> {
  await asPostgres([toolPath('pg_ctl'), '-D', join(dir, 'data'), '-m', 'fast', '-t', '30', '-w', 'stop'], dir);
}

function server(dir: string, port: number, pid: number): PostgresServer {
  let databases = 0;
  let stopping: Promise<void> | undefined;
  return {
    url: urlOf(port, 'postgres'),
    port,
    pid,
    dir,
    async createDatabase() {
      const name = `keel_${++databases}`;
      const client = new pg.Client({ connectionString: urlOf(port, 'postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return urlOf(port, name);
    },
    stop() {
      stopping ??= (async () => {
        try {
          // A server global teardown (or a test) already killed has nothing left to stop.
          if (await processRunning(pid)) await stopCluster(dir);
        } catch (err) {
          // Leave the record: global teardown kills it. Say why it did not stop.
          const log = await readFile(join(dir, 'log'), 'utf8').catch(() => '');
          throw new Error(`pg_ctl stop failed for PID ${pid}: ${err instanceof CommandError ? err.message : String(err)}\n--- server log (tail) ---\n${tail(log)}`);
        }
        await forgetDaemons(dir);
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      })();
      return stopping;
    },
  };
}
