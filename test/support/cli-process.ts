/**
 * Runs one of the real executables (scripts/keel, scripts/gc, scripts/warm) as a child process, with an
 * environment of our choosing (the test's own KEEL_* variables are never inherited), and
 * lets a test wait for it to exit by itself or to log a line. Every child is stopped by its
 * PID in stopAll(), which the test calls in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { build } from './build.js';

/** The executables, in the run's private copy of the build (build.ts). */
export const KEEL = build.keel;
export const GC = build.gc;
export const WARM = build.warm;

export interface LogLine {
  level?: number;
  msg?: string;
  [key: string]: unknown;
}

export interface Run {
  pid: number;
  stdout(): string;
  stderr(): string;
  /** The JSON log lines written so far. */
  logs(): LogLine[];
  /** Settles with the exit status when the process ends by itself. */
  exited: Promise<number | null>;
  /** Settles with the first log line whose msg is `msg`; rejects if the process exits first. */
  logged(msg: string): Promise<LogLine>;
}

const children = new Set<ChildProcess>();

export function run(executable: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Run {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KEEL_')));
  const child = spawn(executable, args, { cwd: options.cwd, env: { ...inherited, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const waiting: Array<() => void> = [];
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const check of waiting) check();
  });
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((done) =>
    child.once('close', (code) => {
      children.delete(child);
      done(code);
    }),
  );
  const logs = (): LogLine[] =>
    stdout.split('\n').flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
  return {
    pid: child.pid as number,
    stdout: () => stdout,
    stderr: () => stderr,
    logs,
    exited,
    logged: (msg) =>
      new Promise<LogLine>((found, failed) => {
        const check = (): void => {
          const line = logs().find((l) => l.msg === msg);
          if (line) found(line);
        };
        waiting.push(check);
        check();
        void exited.then((code) => failed(new Error(`exited with ${code} before logging "${msg}": ${stderr}`)));
      }),
  };
}

/** Stops every child still running, by its PID, and waits for each to end. */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      const closed = new Promise((done) => child.once('close', done));
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGTERM');
      await closed;
    }),
  );
}
