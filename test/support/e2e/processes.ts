// Long-running child processes (daemons) for e2e tests: start, wait until ready, stop.
//
// Each process gets its own log file and its own process group (spawned detached), so
// stop() can end it and anything it forked: SIGTERM to the group, SIGKILL after a grace
// period. A process that dies while we wait for it to become ready fails the start with
// the tail of its log. As a last resort, every daemon gets SIGKILL from the kernel when
// node goes away (parent-death signal), so a crashed test run leaves no daemons behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:http';
import { connect } from 'node:net';
import { urlToHttpOptions } from 'node:url';
import { formatCommand, tail } from './run.js';
import { toolPath } from './tools.js';

/** Alive and not a zombie, from /proc/PID/stat (PID 1 here reaps late, and `kill -0` also sees zombies). */
export async function processRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // The state follows the command name in parentheses, which may itself hold ") ".
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== '' && state !== 'Z' && state !== 'X';
}

/** Resolves true once the process serves; false (or a throw) means "not yet". */
export type ReadyCheck = () => Promise<boolean>;

export interface StartProcessOptions {
  /** Short label used in error messages. */
  name: string;
  file: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended here. */
  logFile: string;
  ready: ReadyCheck;
  readyTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL in stop(). */
  stopTimeoutMs?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly command: string;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  isRunning(): boolean;
  /** The last few KiB of the log, for error messages. */
  logTail(): Promise<string>;
  /** Idempotent. Resolves once the process has exited. */
  stop(): Promise<void>;
}

const POLL_MS = 100;
const DEFAULT_READY_TIMEOUT_MS = 60_000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const KILL_WAIT_MS = 5_000;

const live = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of live) signalGroup(pid, 'SIGKILL');
  });
}

/** Signals the process group led by pid, falling back to the pid alone. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function groupExists(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function timeout(ms: number): Promise<'timeout'> {
  return new Promise((r) => setTimeout(() => r('timeout'), ms).unref());
}

export async function startProcess(opts: StartProcessOptions): Promise<ManagedProcess> {
  installExitHook();
  const command = formatCommand(opts.file, opts.args);
  const fd = openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    // setpriv (util-linux, always installed) execs the daemon in place with a parent-death
    // signal: if node dies or exits without stop() (a crashed or interrupted run), the
    // kernel SIGKILLs the daemon. Jest sandboxes `process`, so an 'exit' hook alone does
    // not fire there.
    child = spawn(toolPath('setpriv'), ['--pdeathsig', 'KILL', '--', opts.file, ...opts.args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  let exitStatus: ExitStatus | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.on('error', (e) => {
      spawnError = e;
      exitStatus = { code: null, signal: null };
      resolve(exitStatus);
    });
    child.on('exit', (code, signal) => {
      exitStatus = { code, signal };
      resolve(exitStatus);
    });
  });
  // Not holding node's event loop open: a test that forgets stop() must not hang jest;
  // the parent-death signal still ends the daemon when node exits.
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    throw new Error(`${opts.name}: cannot start ${command}: ${spawnError?.message ?? 'no pid'}`);
  }
  live.add(pid);
  void exited.then(() => {
    // Keep the group in `live` while forked children may still run; stop() clears it.
    if (!groupExists(pid)) live.delete(pid);
  });

  const logTail = async (): Promise<string> => tail(await readFile(opts.logFile, 'utf8').catch(() => ''));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exitStatus === undefined) {
        signalGroup(pid, 'SIGTERM');
        if ((await Promise.race([exited, timeout(opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS)])) === 'timeout') {
          signalGroup(pid, 'SIGKILL');
          if ((await Promise.race([exited, timeout(KILL_WAIT_MS)])) === 'timeout') {
            throw new Error(`${opts.name} (pid ${pid}) survived SIGKILL: ${command}`);
          }
        }
      }
      // Children the leader forked (shims, helpers) share its group.
      if (groupExists(pid)) signalGroup(pid, 'SIGKILL');
      live.delete(pid);
    })();
    return stopping;
  };

  const handle: ManagedProcess = {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    command,
    exited,
    isRunning: () => exitStatus === undefined,
    logTail,
    stop,
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  for (;;) {
    if (exitStatus !== undefined) {
      await stop();
      throw new Error(
        `${opts.name} exited before it was ready (code ${exitStatus.code}, signal ${exitStatus.signal}): ` +
          `${command}\n--- ${opts.logFile} ---\n${await logTail()}`,
      );
    }
    if (await opts.ready().catch(() => false)) return handle;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `${opts.name} was not ready after ${opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS} ms: ` +
          `${command}\n--- ${opts.logFile} ---\n${await logTail()}`,
      );
    }
    await Promise.race([exited, sleep(POLL_MS)]);
  }
}

/** Ready when something accepts connections on the unix socket at `path`. */
export function unixSocketAccepts(path: string): ReadyCheck {
  return () =>
    new Promise((resolve) => {
      const socket = connect({ path });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
}

export interface HttpTarget {
  /** Either a full http:// URL, or a path used together with socketPath. */
  url?: string;
  socketPath?: string;
  path?: string;
}

/** Ready when an HTTP GET answers with one of `statuses` (default: any status below 500). */
export function httpResponds(target: HttpTarget, statuses?: readonly number[]): ReadyCheck {
  return () =>
    new Promise((resolve) => {
      const where: RequestOptions =
        target.url !== undefined
          ? urlToHttpOptions(new URL(target.url))
          : { socketPath: target.socketPath, path: target.path ?? '/', host: 'localhost' };
      const req = request({ ...where, method: 'GET', timeout: 2_000 }, (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve(statuses === undefined ? status > 0 && status < 500 : statuses.includes(status));
      });
      req.once('timeout', () => req.destroy());
      req.once('error', () => resolve(false));
      req.end();
    });
}

/** Ready once the process's log (or any file) contains `text`. */
export function fileContains(file: string, text: string): ReadyCheck {
  return async () => (await readFile(file, 'utf8').catch(() => '')).includes(text);
}

/** Ready when every check is, tried in order. */
export function allReady(...checks: readonly ReadyCheck[]): ReadyCheck {
  return async () => {
    for (const check of checks) if (!(await check())) return false;
    return true;
  };
}
