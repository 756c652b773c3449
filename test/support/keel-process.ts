/**
 * Keel as a separate process (scripts/keel of the run's private copy of the build, see
 * build.ts), for tests that measure the server itself (memory) or need it outside jest.
 * Stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { build } from './build.js';


export interface KeelChild {
  url: string;
  host: string;
  pid: number;
  root: string;
  /** The server's own TMPDIR (empty at start), beside root in a private parent directory. */
  tmp: string;
  /** Peak resident memory of the server so far, in bytes (VmHWM). */
  peakRss(): Promise<number>;
  /** Settles with the exit code when the process ends. */
  exited: Promise<number | null>;
  /** What the process wrote to stdout so far (its JSON log lines). */
  output(): string;
  /**
   * The next log line, written after this call, whose `msg` matches; rejects when the process
   * ends first. Call it before causing the line (a signal, a request), then await it.
   */
  nextLog(msg: string | RegExp): Promise<LogEntry>;
  stop(): Promise<void>;
}

export type LogEntry = { msg?: string; [field: string]: unknown };

/** `listen` defaults to a free loopback port picked at start ("127.0.0.1:0"). */
export async function spawnKeel(extraToml = '', options: { listen?: string } = {}): Promise<KeelChild> {
  if (!existsSync(build.main)) throw new Error(`${build.main} is missing: run "npm run build" (npm test does it in pretest)`);
  // A private parent holds the storage root and the server's TMPDIR, so what the server writes
  // can be checked without looking at files other processes put in the shared temp folder.
  const parent = await mkdtemp(join(tmpdir(), 'keel-proc-'));
  const root = join(parent, 'root');
  const tmp = join(parent, 'tmp');
  await Promise.all([mkdir(root), mkdir(tmp)]);
  const file = join(root, 'keel.toml');
  await writeFile(file, `listen = "${options.listen ?? '127.0.0.1:0'}"\n${extraToml}`);
  // scripts/keel, as `npm start` runs it: measured figures are those of production settings.
  const child: ChildProcess = spawn(build.keel, ['--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
  let stderr = '';
  let stdout = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // 'close' comes after stdout has ended, so every line is read by then.
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const waiters = new Set<(entry: LogEntry) => void>();
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  lines.on('line', (line) => {
    let entry: LogEntry;
    try {
      entry = JSON.parse(line) as LogEntry;
    } catch {
      return; // not a log line
    }
    for (const waiter of [...waiters]) waiter(entry);
  });
  const listening = new Promise<number>((resolvePort, reject) => {
    const started = (entry: LogEntry): void => {
      if (entry.msg === 'keel listening' && typeof entry.port === 'number' && entry.port > 0) {
        waiters.delete(started);
        resolvePort(entry.port);
      }
    };
    waiters.add(started);
    // 'close', not 'exit': by then stderr is read to its end, so the message holds Keel's last words.
    void closed.then((code) => reject(new Error(`keel exited with ${code}: ${stderr}`)));
    setTimeout(() => reject(new Error(`keel did not start within 20s: ${stderr}`)), 20_000).unref();
  });
  let port: number;
  try {
    port = await listening;
  } catch (err) {
    // A Keel that failed to start (or is still starting) leaves neither a process nor its files.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await closed;
    await rm(parent, { recursive: true, force: true });
    throw err;
  }
  const pid = child.pid as number;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    pid,
    root,
    tmp,
    exited,
    output: () => stdout,
    nextLog: (msg) =>
      new Promise<LogEntry>((resolveEntry, reject) => {
        const matches = (text: string | undefined): boolean => text !== undefined && (typeof msg === 'string' ? text === msg : msg.test(text));
        const waiter = (entry: LogEntry): void => {
          if (!matches(entry.msg)) return;
          waiters.delete(waiter);
          resolveEntry(entry);
        };
        waiters.add(waiter);
        void closed.then((code) => {
          if (!waiters.delete(waiter)) return;
          reject(new Error(`keel exited (code ${code}, signal ${child.signalCode ?? 'none'}) before logging ${String(msg)}; stderr: ${stderr}`));
        });
      }),
    peakRss: async () => {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const m = /VmHWM:\s+(\d+) kB/.exec(status);
      if (!m) throw new Error('no VmHWM in /proc status');
      return Number(m[1]) * 1024;
    },
    stop: async () => {
      // Killed by a signal (a test's kill -9), a process has no exit code but a signal code.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        process.kill(pid, 'SIGTERM');
        const timer = setTimeout(() => child.exitCode === null && process.kill(pid, 'SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(parent, { recursive: true, force: true });
    },
  };
}
