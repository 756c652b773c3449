/**
 * Small requests: manifest GET by tag (wrk) and blob HEAD (ab -k) under concurrent load, on
 * every server of the registry part and on their ceiling, a bare `node:http` server
 * (bare-http.ts) answering Keel's own bytes and headers for the same two URLs. All take turns
 * within each step; the bare server's figures are the rows' "limit".
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { curlFirstAnswer } from './curl-get.js';
import { abHead, wrkGet, type LoadResult } from './load.js';
import { countStatuses } from '../../test/support/e2e/access-log.js';
import { freePort } from '../../test/support/e2e/ports.js';
import { httpResponds, startProcess } from '../../test/support/e2e/processes.js';
import type { BareAnswer, BareSpec } from './bare-http.js';
import { loadStep, OCI_MANIFEST, REPO, TAG, type Target, type WorkloadContext } from './local-workload.js';
import { median, sleep } from './measure.js';
import { SERVER_LABEL, type ServerId } from './report.js';
import { stopThenRemove } from './servers.js';

/** What the load tools hit: a server of the registry part, or the bare ceiling. */
interface LoadTarget {
  id: ServerId;
  url: string;
  /** The server process, whose CPU time per request is read around each measured load. */
  pid: number;
  s3: boolean;
  accessLog?: string;
}

/** Headers Node's HTTP server writes itself on every answer (the bare server's too). */
const PER_CONNECTION = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);

/** One answer of a server, as the bare server is to repeat it. */
function capture(url: string, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<BareAnswer> {
  return new Promise((resolvePromise, reject) => {
    const u = new URL(url);
    const req = request(u, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        const kept: Record<string, string> = {};
        // rawHeaders keeps the server's own spelling and order.
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i] as string;
          if (!PER_CONNECTION.has(name.toLowerCase())) kept[name] = res.rawHeaders[i + 1] as string;
        }
        const status = res.statusCode ?? 0;
        if (status !== 200) reject(new Error(`${method} ${url}: expected 200 to copy for the bare server, got ${status}`));
        else resolvePromise({ method, path: u.pathname, status, headers: kept, body: Buffer.concat(chunks).toString('base64') });
      });
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

interface BareServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts bare-http.js (compiled beside this file) on the same Node, answering `answers`. */
async function startBareHttp(answers: BareAnswer[]): Promise<BareServer> {
  const dir = await mkdtemp(join(tmpdir(), 'keel-bench-bare-'));
  try {
    const port = await freePort();
    const spec: BareSpec = { host: '127.0.0.1', port, answers };
    const specFile = join(dir, 'spec.json');
    await writeFile(specFile, JSON.stringify(spec));
    const first = answers[0];
    if (first === undefined) throw new Error('the bare server needs an answer to give');
    const url = `http://127.0.0.1:${port}`;
    const proc = await startProcess({
      name: 'bare node:http',
      file: process.execPath,
      args: [resolve(import.meta.dirname, 'bare-http.js'), specFile],
      logFile: join(dir, 'bare-http.log'),
      ready: httpResponds({ url: `${url}${first.path}` }, [200]),
      readyTimeoutMs: 10_000,
    });
    return {
      url,
      pid: proc.pid,
      stop: stopThenRemove(proc, dir),
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * The two load steps, `rounds` times (each round: every server in turn, then the bare
 * server), each server's median kept. `targets` must include Keel (its answers are copied)
 * with the pushed image (local-workload.ts pushImage) and the blob at `headPath` on each.
 */
export async function runSmallRequests(ctx: WorkloadContext, targets: readonly Target[], headPath: string, rounds = 1): Promise<void> {
  const keel = targets.find((t) => t.id === 'keel');
  if (keel === undefined) throw new Error('the small-request steps copy Keel\'s answers: Keel must be among the targets');
  const manifestPath = `/v2/${REPO}/manifests/${TAG}`;
  const accept = { Accept: OCI_MANIFEST };
  const bare = await startBareHttp([await capture(`${keel.url}${manifestPath}`, 'GET', accept), await capture(`${keel.url}${headPath}`, 'HEAD', {})]);
  ctx.log(`bare node:http ${bare.url} (pid ${bare.pid}) answers Keel's manifest and blob HEAD bytes`);
  try {
    const all: LoadTarget[] = [...targets.map((t) => ({ ...t, pid: t.rss.pid })), { id: 'limit', url: bare.url, pid: bare.pid, s3: false }];
    const s = ctx.settings;
    const load = { seconds: s.loadSeconds, connections: s.connections };
    await inRounds(ctx, all, 'manifest_get', rounds, (t, seconds) => wrkGet(`${t.url}${manifestPath}`, { ...load, seconds, headers: accept }));
    const redirectedHeads = new Set<ServerId>();
    for (const t of targets.filter((x) => x.s3)) {
      const first = await curlFirstAnswer(`${t.url}${headPath}`, 'HEAD');
      ctx.log(`blob HEAD on S3: ${SERVER_LABEL[t.id]} answers ${first.status}`);
      ctx.results.extra[`${t.id}_blob_head_first_status`] = first.status;
      if (first.status === 307) {
        redirectedHeads.add(t.id);
        ctx.results.notes.push(
          `${SERVER_LABEL[t.id]} answers blob HEAD with 307 to a presigned HEAD URL (not 200): its HEAD figures are that answer alone; ` +
            'a client then sends a second HEAD to the object store, which is not counted.',
        );
      }
    }
    await inRounds(ctx, all, 'blob_head', rounds, async (t, seconds) => {
      if (!redirectedHeads.has(t.id)) return abHead(`${t.url}${headPath}`, { ...load, seconds });
      return redirectedHead(t, headPath, () => abHead(`${t.url}${headPath}`, { ...load, seconds, allowNon2xx: true }));
    });
  } finally {
    await bare.stop();
  }
}

/** CPU time (user + system) a process has used so far, in microseconds (/proc/<pid>/stat counts in USER_HZ, 100 on Linux). */
async function cpuMicros(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * loadStep `rounds` times; each figure becomes its median, and Keel's share of the bare server
 * per round is kept. Each server's CPU time per request in the measured runs is kept too
 * (`<id>_<name>_cpu_us_per_request`, median): on this shared machine req/s depends on what the
 * load tools and other work get of the cores, CPU per request much less.
 */
async function inRounds(ctx: WorkloadContext, all: readonly LoadTarget[], name: string, rounds: number, runLoad: (t: LoadTarget, seconds: number) => Promise<LoadResult>): Promise<void> {
  const { results } = ctx;
  const samples = new Map<string, number[]>();
  const shares: string[] = [];
  const cpu = new Map<ServerId, number[]>();
  const measured = async (t: LoadTarget, seconds: number): Promise<LoadResult> => {
    const before = await cpuMicros(t.pid);
    const r = await runLoad(t, seconds);
    if (seconds === ctx.settings.loadSeconds && r.requests > 0) cpu.set(t.id, [...(cpu.get(t.id) ?? []), ((await cpuMicros(t.pid)) - before) / r.requests]);
    return r;
  };
  for (let round = 0; round < rounds; round++) {
    await loadStep(ctx, all, name, measured);
    for (const t of all) {
      for (const figure of [`${name}_rps`, `${name}_p99_ms`]) {
        const v = results.get(figure, t.id);
        if (v !== undefined) samples.set(`${figure} ${t.id}`, [...(samples.get(`${figure} ${t.id}`) ?? []), v]);
      }
    }
    const share = results.ratio(`${name}_rps`, 'limit');
    if (share !== undefined) shares.push(`${Math.round(share * 100)}%`);
  }
  if (rounds > 1) {
    for (const t of all) {
      for (const figure of [`${name}_rps`, `${name}_p99_ms`]) {
        const list = samples.get(`${figure} ${t.id}`);
        if (list !== undefined && list.length > 0) results.set(figure, t.id, median(list));
      }
    }
  }
  results.extra[`keel_${name}_share_of_limit_by_round`] = shares.join(' ');
  const perRequest: string[] = [];
  for (const t of all) {
    const list = cpu.get(t.id);
    if (list === undefined || list.length === 0) continue;
    const us = Math.round(median(list) * 10) / 10;
    results.extra[`${t.id}_${name}_cpu_us_per_request`] = us;
    perRequest.push(`${SERVER_LABEL[t.id]} ${us} µs`);
  }
  const keelCpu = results.extra[`keel_${name}_cpu_us_per_request`];
  const bareCpu = results.extra[`limit_${name}_cpu_us_per_request`];
  const cpuShare = typeof keelCpu === 'number' && typeof bareCpu === 'number' && keelCpu > 0 ? `${Math.round((bareCpu / keelCpu) * 100)}%` : '?';
  results.notes.push(`${name}: server CPU time per request (median of ${rounds} measured runs): ${perRequest.join(', ')}; Keel's share of the bare server by CPU: ${cpuShare}.`);
  ctx.log(`${name}: Keel's share of the bare node:http server, by round: ${shares.join(', ')}; CPU per request: ${perRequest.join(', ')}`);
}

/**
 * Runs a HEAD load whose answers are 307s (ab counts them as non-2xx) and makes sure from the
 * server's access log that every one of them was a 307 or a 200, never an error.
 */
async function redirectedHead(t: LoadTarget, path: string, runLoad: () => Promise<LoadResult>): Promise<LoadResult> {
  const log = t.accessLog;
  if (log === undefined) throw new Error(`${SERVER_LABEL[t.id]}: blob HEAD answers 307 and there is no access log to check the statuses in`);
  const before = await countStatuses(log, 'HEAD', path);
  const r = await runLoad();
  const total = (m: Map<number, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  // The last lines may reach the file just after ab's last answer.
  let after = await countStatuses(log, 'HEAD', path);
  for (let i = 0; i < 50 && total(after) - total(before) < r.requests; i++) {
    await sleep(100);
    after = await countStatuses(log, 'HEAD', path);
  }
  if (total(after) - total(before) < r.requests) throw new Error(`${SERVER_LABEL[t.id]}: ${r.requests} HEADs by ab, ${total(after) - total(before)} in the access log`);
  for (const [status, n] of after) {
    const added = n - (before.get(status) ?? 0);
    if (added > 0 && status !== 307 && status !== 200) throw new Error(`${SERVER_LABEL[t.id]}: ${added} blob HEADs answered ${status}`);
  }
  return r;
}
