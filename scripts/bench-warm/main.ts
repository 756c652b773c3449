/**
 * `npm run bench:warm`: how much a client's cold pull through the proxy slows while the same
 * Keel process warms its cache. One upstream (Debian's docker-registry, Distribution 2.8) on
 * loopback; two Keel processes (dist/, the production settings of `npm start`) in front of
 * it: one with the warming defaults (3 downloads at a time, no bandwidth cap), one with
 * `proxy.warm.bandwidth` set. Every image is fresh, so every pull is a cache miss.
 *
 * Per Keel, in each round: a client pulls a fresh image alone (manifest, then its layers, as
 * a client does), timed; then a warm request for a set of fresh images starts, and once
 * warming has read its first manifest the client pulls another fresh image of the same size,
 * timed. The figure is the median of "during" over the median of "alone"; the target is the
 * bound README states. Whether warming was still downloading when the pull ended is
 * reported per round (a pull that outlasted the warming measured less than it claims).
 *
 * A full run that misses the target exits 3 after the table; BENCH_QUICK=1 only prints. One
 * `WARM_BENCH_JSON {...}` line at the end for the test suite.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cleanup } from '../../test/support/e2e/cleanup.js';
import { pushFreshImage, type PushedImage } from '../bench/pull-image.js';
import { RegistryClient } from '../bench/registry-client.js';
import { startBenchDistribution, startKeel, type BenchServer } from '../bench/servers.js';
import { checkBenchTools, MissingToolsError } from '../bench/tools.js';

const quick = process.env.BENCH_QUICK === '1';
const MiB = 1024 * 1024;
const ROUNDS = quick ? 1 : 3;
/** The client's image: one layer. */
const LIVE_LAYER = (quick ? 8 : 128) * MiB;
/** What each warm request fetches: images of two layers. */
const WARM_IMAGES = 3;
const WARM_LAYER = (quick ? 8 : 96) * MiB;
const CAP = '100MiB/s';
/** The stated bound: a live pull during warming takes at most this many times its time alone. */
const TARGET = 1.5;
const UPSTREAM = 'bench-upstream';

const began = performance.now();
const log = (m: string): void => void process.stderr.write(`[${((performance.now() - began) / 1000).toFixed(1).padStart(6)}s] ${m}\n`);
const cleanup = new Cleanup();

interface Setup {
  id: 'default' | 'capped';
  label: string;
  server: BenchServer;
  client: RegistryClient;
}

interface Round {
  aloneMs: number;
  duringMs: number;
  /** Warming still had downloads to finish when the pull ended. */
  warmingOutlasted: boolean;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** A cold pull as a client makes it: the manifest, then each layer in turn; milliseconds. */
async function pull(client: RegistryClient, image: PushedImage): Promise<number> {
  const start = performance.now();
  await client.expect(200, 'GET', `/v2/proxy/${UPSTREAM}/${image.repo}/manifests/${image.tag}`, { Accept: 'application/vnd.docker.distribution.manifest.v2+json' });
  for (const digest of [image.configDigest, ...image.layers]) {
    const got = await client.download(`/v2/proxy/${UPSTREAM}/${image.repo}/blobs/${digest}`);
    if (got.status !== 200) throw new Error(`pull of ${image.repo}: ${digest} answered ${got.status}`);
  }
  return performance.now() - start;
}

/** Starts a warm request; `started` resolves at its first "image" line, `done` with its summary. */
function warm(server: BenchServer, references: readonly string[]): { started: Promise<void>; done: Promise<{ failed: number }> } {
  let began: () => void = () => undefined;
  const started = new Promise<void>((resolve) => {
    began = resolve;
  });
  const done = (async () => {
    const res = await fetch(`${server.url}/api/v1/warm`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ references }) });
    if (res.status !== 200 || res.body === null) throw new Error(`POST /api/v1/warm answered ${res.status}: ${await res.text()}`);
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of res.body) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes('"event":"image"')) began();
    }
    const last = JSON.parse(text.trim().split('\n').pop() ?? '{}') as { event?: string; failed?: number };
    if (last.event !== 'summary') throw new Error(`the warm answer ended without a summary: ${text.slice(-500)}`);
    began();
    return { failed: last.failed ?? 0 };
  })();
  return { started, done };
}

async function main(): Promise<void> {
  setInterval(() => undefined, 60_000);
  // The upstream, and curl for pushing its layers (pull-image.ts).
  await checkBenchTools(['docker-registry', 'curl']);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup.run().finally(() => process.exit(130)));
  const work = await mkdtemp(join(tmpdir(), 'keel-bench-warm-'));
  cleanup.add('work directory', work, (d) => rm(d, { recursive: true, force: true }));
  const upstream = cleanup.add('upstream', await startBenchDistribution(), (s) => s.stop());
  const upstreamClient = cleanup.add('upstream client', new RegistryClient(upstream.url), async (c) => c.close());
  const setups: Setup[] = [];
  for (const [id, label, extra] of [
    ['default', 'Keel, warming defaults (3 downloads, no cap)', ''],
    ['capped', `Keel, proxy.warm.bandwidth = "${CAP}"`, `\n[proxy.warm]\nbandwidth = "${CAP}"\n`],
  ] as const) {
    const server = cleanup.add(`keel ${id}`, await startKeel([{ name: UPSTREAM, url: upstream.url }], undefined, extra), (s) => s.stop());
    setups.push({ id, label, server, client: cleanup.add(`client ${id}`, new RegistryClient(server.url), async (c) => c.close()) });
    log(`${label}: ${server.url} (pid ${server.pid})`);
  }
  log(`upstream ${upstream.url}; pushing ${setups.length * ROUNDS * (2 + WARM_IMAGES)} fresh images`);
  let n = 0;
  const fresh = (layers: readonly number[]): Promise<PushedImage> => pushFreshImage(upstreamClient, work, `warm-bench/i${++n}`, 'v1', layers);
  const plan = [];
  for (const setup of setups) {
    for (let r = 0; r < ROUNDS; r++) {
      const alone = await fresh([LIVE_LAYER]);
      const during = await fresh([LIVE_LAYER]);
      const warmSet: PushedImage[] = [];
      for (let i = 0; i < WARM_IMAGES; i++) warmSet.push(await fresh([WARM_LAYER, WARM_LAYER]));
      plan.push({ setup, alone, during, warmSet });
    }
  }

  const rounds = new Map<Setup['id'], Round[]>(setups.map((s) => [s.id, []]));
  // Turns: a round of each setup in turn, so a busy moment of the machine falls on both.
  for (let r = 0; r < ROUNDS; r++) {
    for (const setup of setups) {
      const p = plan.find((x, i) => x.setup === setup && i % ROUNDS === r) ?? plan.filter((x) => x.setup === setup)[r];
      if (p === undefined) throw new Error('no planned round');
      const aloneMs = await pull(setup.client, p.alone);
      const warming = warm(setup.server, p.warmSet.map((i) => `proxy/${UPSTREAM}/${i.repo}:${i.tag}`));
      let warmingEnded = false;
      const done = warming.done.finally(() => {
        warmingEnded = true;
      });
      await warming.started;
      const duringMs = await pull(setup.client, p.during);
      const warmingOutlasted = !warmingEnded;
      const summary = await done;
      if (summary.failed > 0) throw new Error(`warming failed for ${summary.failed} images`);
      rounds.get(setup.id)?.push({ aloneMs, duringMs, warmingOutlasted });
      log(`${setup.id} round ${r + 1}: alone ${aloneMs.toFixed(0)} ms, during warming ${duringMs.toFixed(0)} ms${warmingOutlasted ? '' : ' (warming ended first)'}`);
    }
  }
  await cleanup.run();

  const figures: Record<string, unknown> = {};
  const lines: string[] = [];
  let missed = false;
  for (const setup of setups) {
    const rs = rounds.get(setup.id) ?? [];
    const alone = median(rs.map((x) => x.aloneMs));
    const during = median(rs.map((x) => x.duringMs));
    const ratio = during / alone;
    const met = ratio <= TARGET;
    if (setup.id === 'default' && !met) missed = true;
    figures[setup.id] = { alone_ms: Math.round(alone), during_ms: Math.round(during), ratio: Math.round(ratio * 100) / 100, target: TARGET, target_met: met, rounds: rs };
    lines.push(
      `| ${setup.label} | ${alone.toFixed(0)} ms | ${during.toFixed(0)} ms | ${ratio.toFixed(2)}x | <= ${TARGET}x: ${met ? 'met' : 'MISSED'} | ${rs.filter((x) => x.warmingOutlasted).length}/${rs.length} |`,
    );
  }
  const warmMiB = (WARM_IMAGES * 2 * WARM_LAYER) / MiB;
  process.stdout.write(
    `\nA client's cold pull (${LIVE_LAYER / MiB} MiB layer) alone and while the same Keel warms ${WARM_IMAGES} images (${warmMiB} MiB), medians of ${ROUNDS} rounds, ` +
      `${new Date().toISOString()}, Node ${process.version}, load average ${loadavg()[0]?.toFixed(1) ?? '?'}\n\n` +
      `| Keel | pull alone | pull during warming | during / alone | target | warming outlasted the pull |\n|---|---|---|---|---|---|\n${lines.join('\n')}\n\n` +
      `The target applies to the defaults; the capped row shows what the cap adds.${quick ? '\nBENCH_QUICK=1: a smoke run, targets printed, not enforced.' : ''}\n` +
      `WARM_BENCH_JSON ${JSON.stringify({ quick, rounds: ROUNDS, live_layer_bytes: LIVE_LAYER, warm_bytes: WARM_IMAGES * 2 * WARM_LAYER, cap: CAP, figures })}\n`,
  );
  process.exit(missed && !quick ? 3 : 0);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench:warm failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await cleanup.run().catch((e: unknown) => process.stderr.write(`${String(e)}\n`));
  process.exit(err instanceof MissingToolsError ? 2 : 1);
});
