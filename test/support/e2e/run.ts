// Runs one short-lived command to completion and hands back its output.
//
// Every real client (skopeo, podman, ctr, docker, apt-get) is driven through here so
// that a failure always names the full command line, its exit status and the tail of
// what it printed: an e2e failure must say what went wrong without a rerun.
import { spawn } from 'node:child_process';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the command (SIGKILL) after this long. */
  timeoutMs?: number;
  /** Bytes written to the command's stdin, then stdin is closed. */
  input?: string | Buffer;
  /** Resolve instead of throwing when the command exits non-zero. */
  allowFailure?: boolean;
}

export interface RunResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const TAIL_CHARS = 4_000;

export class CommandError extends Error {
  constructor(readonly result: RunResult, reason: string) {
    super(
      `${reason}: ${result.command}\n` +
        `--- stderr (tail) ---\n${tail(result.stderr)}\n` +
        `--- stdout (tail) ---\n${tail(result.stdout.toString('utf8'))}`,
    );
    this.name = 'CommandError';
  }
}

export function tail(text: string, chars = TAIL_CHARS): string {
  return text.length <= chars ? text : `…${text.slice(-chars)}`;
}

/** Quotes an argument list so it can be pasted into a shell to reproduce a failure. */
export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const command = formatCommand(file, args);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${command}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = {
        command,
        code,
        signal,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) reject(new CommandError(result, `timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`));
      else if (code !== 0 && !opts.allowFailure) {
        reject(new CommandError(result, `exit ${code ?? `signal ${signal ?? '?'}`}`));
      } else resolve(result);
    });
    child.stdin.on('error', () => undefined); // the command may exit without reading stdin
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs a command and returns its stdout as text. */
export async function runText(file: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return (await run(file, args, opts)).stdout.toString('utf8');
}
