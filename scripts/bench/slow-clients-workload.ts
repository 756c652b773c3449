/**
 * The slow-client part (issue 19): many clients read one cached blob at a modest rate each
 * (a cluster's nodes pulling one layer at once over slow links), and meanwhile one fast
 * client GETs the same blob. Run on servers of its own, started here and stopped at the end,
 * so the main bench Keel's whole-run memory stays what it measured before this part existed:
 * a fresh Keel, a fresh Distribution 2.8 and, as the limit, nginx serving the same file from
 * disk (nginx-static.ts). In turns, one server at a time:
 *
 *   1. `fastGets` curl GETs of the blob on the idle server (median MiB/s);
 *   2. VmHWM reset (clear_refs), then `clients` slow readers at once (slow-readers.ts, a
 *      process of their own), each checking every byte; `fastDelayMs` after they started,
 *      the same curl GETs again, while they read;
 *   3. the server's peak RSS over step 2, and how many readers got the whole blob right.
 *
 * BENCH_ONLY=slow runs this part alone.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobData } from './blob-data.js';
import { curlGet } from './curl-get.js';
import { median, mibPerSecond, sleep } from './measure.js';
import { startStaticNginx } from './nginx-static.js';
import { RegistryClient } from './registry-client.js';
import { SERVER_LABEL, type Results, type ServerId } from './report.js';
import { MiB } from './settings.js';
import { slowClientSettings, type SlowClientSettings } from './slow-client-settings.js';
import { peakRss, startBenchDistribution, startKeel, type BenchServer } from './servers.js';

export interface SlowClientsContext {
  quick: boolean;
  results: Results;
  log: (message: string) => void;
  /** Registers something to stop at the end (or on Ctrl-C); returns it. */
  keep<T>(name: string, thing: T, stop: (t: T) => Promise<void>): T;
}

interface Subject {
  id: ServerId;
  url: string;
  /** The PIDs whose memory counts. */
  pids(): Promise<number[]>;
}

interface ReadersOutcome {
  served: number;
  failed: number;
  failures: string[];
  seconds: number;
}

const REPO = 'bench/slow';
const readersScript = fileURLToPath(new URL('./slow-readers.js', import.meta.url));

export async function runSlowClientsPart(ctx: SlowClientsContext): Promise<void> {
  const s = slowClientSettings(ctx.quick);
  const { results } = ctx;
  const dir = ctx.keep('slow-client files', await mkdtemp(join(tmpdir(), 'keel-bench-slow-')), (d) => rm(d, { recursive: true, force: true }));
  const blob = BlobData.create(s.blobSize);
  const file = join(dir, 'blob');
  await blob.writeFile(file);

  const keel = ctx.keep('slow-client keel', await startKeel([]), (x) => x.stop());
  const distribution = ctx.keep('slow-client distribution', await startBenchDistribution(), (x) => x.stop());
  const nginx = ctx.keep('slow-client nginx', await startStaticNginx(dir), (x) => x.stop());
  ctx.log(`slow clients: keel ${keel.url} (pid ${keel.pid}), distribution ${distribution.url} (pid ${distribution.pid}), nginx ${nginx.url} (pid ${nginx.pid})`);
  for (const server of [keel, distribution]) {
    const client = new RegistryClient(server.url);
    try {
      await client.pushMonolithic(REPO, blob);
    } finally {
      client.close();
    }
  }
  const registry = (id: ServerId, server: BenchServer): Subject => ({ id, url: `${server.url}/v2/${REPO}/blobs/${blob.digest}`, pids: () => Promise.resolve([server.pid]) });
  const subjects: Subject[] = [registry('keel', keel), registry('distribution', distribution), { id: 'limit', url: `${nginx.url}/blob`, pids: () => nginx.pids() }];

  try {
    for (const subject of subjects) {
      const who = SERVER_LABEL[subject.id];
      const idle = await fastGets(subject.url, s);
      const pids = await subject.pids();
      const before = await rssNow(pids);
      const reset = await resetPeaks(pids);
      const readers = runReaders(subject.url, s, file);
      await sleep(s.fastDelayMs);
      const during = await fastGets(subject.url, s);
      const outcome = await readers;
      const peak = await peaksOf(pids);
      results.set('slow_clients_peak_rss_mib', subject.id, peak / MiB);
      results.set('slow_clients_served', subject.id, outcome.served);
      results.set('slow_clients_fast_get_mibps', subject.id, during);
      results.extra[`${subject.id}_slow_clients_idle_get_mibps`] = Math.round(idle * 10) / 10;
      results.extra[`${subject.id}_slow_clients_fast_share`] = Math.round((during / idle) * 100) / 100;
      results.extra[`${subject.id}_slow_clients_seconds`] = Math.round(outcome.seconds * 10) / 10;
      results.extra[`${subject.id}_slow_clients_rss_before_mib`] = Math.round((before / MiB) * 10) / 10;
      if (!reset) results.extra[`${subject.id}_slow_clients_peak_is_whole_life`] = true;
      if (outcome.failed > 0) results.notes.push(`${who}, slow clients: ${outcome.failed} of ${s.clients} not served whole and right (${outcome.failures.join('; ')}).`);
      ctx.log(
        `slow clients: ${who} served ${outcome.served}/${s.clients} in ${outcome.seconds.toFixed(1)} s, peak RSS ${(peak / MiB).toFixed(0)} MiB (${(before / MiB).toFixed(0)} MiB before), ` +
          `fast GET ${during.toFixed(0)} MiB/s while they read vs ${idle.toFixed(0)} MiB/s idle`,
      );
    }
  } finally {
    // Stopped now, not idling through the parts after this one (the cleanup's second stop does nothing).
    await Promise.allSettled([keel.stop(), distribution.stop(), nginx.stop()]);
  }
}

/** Median MiB/s of `fastGets` curl GETs, each checked for the whole length. */
async function fastGets(url: string, s: SlowClientSettings): Promise<number> {
  const speeds: number[] = [];
  for (let i = 0; i < s.fastGets; i++) {
    const got = await curlGet(url);
    if (got.bytes !== s.blobSize) throw new Error(`GET ${url} gave ${got.bytes} of ${s.blobSize} bytes`);
    speeds.push(mibPerSecond(got.bytes, got.totalMs));
  }
  return median(speeds);
}

/** Resets each process's VmHWM; false when that is not allowed (not root nor the owner): the peak is then the whole life's. */
async function resetPeaks(pids: readonly number[]): Promise<boolean> {
  try {
    for (const pid of pids) await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Resident memory now (VmRSS), added up over `pids`, in bytes. */
async function rssNow(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
    total += Number(m[1]) * 1024;
  }
  return total;
}

async function peaksOf(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await peakRss(pid);
  return total;
}

function runReaders(url: string, s: SlowClientSettings, expectedFile: string): Promise<ReadersOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [readersScript, url, String(s.clients), String(s.rate), expectedFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`slow readers exited ${String(code)}: ${stderr.slice(-2000)}${stdout.slice(-500)}`));
        return;
      }
      resolve(JSON.parse(line) as ReadersOutcome);
    });
  });
}
