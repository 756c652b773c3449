/**
 * Concurrent load from the outside: wrk for GET (it cannot do HEAD: it would wait for the
 * body a HEAD answer announces) and ApacheBench with keep-alive for HEAD. Both are C
 * programs, so the client is not the bottleneck the way a Node client would be.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../test/support/e2e/run.js';
import { benchToolPath } from './tools.js';

export interface LoadOptions {
  seconds: number;
  connections: number;
  headers?: Record<string, string>;
  /**
   * ab only: answers that are not 2xx are counted, not fatal. For a server whose HEAD answers
   * 307 (Distribution's s3 driver presigns HEADs too); the caller checks them in its log.
   */
  allowNon2xx?: boolean;
}

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  p99Ms: number;
  /** Socket errors and timeouts the tool counted (never non-2xx: those fail the run). */
  errors: number;
  /** Answers that were not 2xx (only with allowNon2xx; otherwise they fail the run). */
  non2xx: number;
}

/** Seconds of slack on top of the run time before the tool is killed. */
const GRACE_MS = 60_000;

export async function wrkGet(url: string, opts: LoadOptions): Promise<LoadResult> {
  const headerArgs = Object.entries(opts.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const args = ['-t2', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', ...headerArgs, url];
  const out = (await run(benchToolPath('wrk'), args, { timeoutMs: opts.seconds * 1000 + GRACE_MS })).stdout.toString('utf8');
  return parseWrk(out);
}

export function parseWrk(out: string): LoadResult {
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  if (non2xx) throw new Error(`wrk: ${non2xx[1]} answers were not 2xx/3xx:\n${out}`);
  const requests = /(\d+) requests in /.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(out);
  if (!requests || !rps || !p99) throw new Error(`cannot read wrk's output:\n${out}`);
  const scale = { us: 0.001, ms: 1, s: 1000 }[p99[2] as 'us' | 'ms' | 's'];
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { requests: Number(requests[1]), requestsPerSecond: Number(rps[1]), p99Ms: Number(p99[1]) * scale, errors, non2xx: 0 };
}

export async function abHead(url: string, opts: LoadOptions): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), 'keel-bench-ab-'));
  try {
    // -e: percentiles as CSV with fractions of a millisecond (the summary rounds to whole ms).
    // -n after -t: otherwise -t caps the run at 50,000 requests.
    const csv = join(dir, 'percentiles.csv');
    const headerArgs = Object.entries(opts.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
    const args = ['-k', '-i', '-q', `-c${opts.connections}`, `-t${opts.seconds}`, '-n10000000', '-e', csv, ...headerArgs, url];
    const out = (await run(benchToolPath('ab'), args, { timeoutMs: opts.seconds * 1000 + GRACE_MS })).stdout.toString('utf8');
    return parseAb(out, await readFile(csv, 'utf8'), opts.allowNon2xx === true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function parseAb(out: string, csv: string, allowNon2xx = false): LoadResult {
  const non2xx = /Non-2xx responses:\s+(\d+)/.exec(out);
  if (non2xx && !allowNon2xx) throw new Error(`ab: ${non2xx[1]} answers were not 2xx:\n${out}`);
  const requests = /Complete requests:\s+(\d+)/.exec(out);
  const failed = /Failed requests:\s+(\d+)/.exec(out);
  const rps = /Requests per second:\s+([\d.]+)/.exec(out);
  const p99 = /^99,([\d.]+)\s*$/m.exec(csv);
  if (!requests || !failed || !rps || !p99) throw new Error(`cannot read ab's output:\n${out}\n${csv}`);
  return { requests: Number(requests[1]), requestsPerSecond: Number(rps[1]), p99Ms: Number(p99[1]), errors: Number(failed[1]), non2xx: Number(non2xx?.[1] ?? 0) };
}
