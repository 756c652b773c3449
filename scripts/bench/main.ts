/**
 * `npm run bench`: Keel against CNCF Distribution 2.8 (Debian's docker-registry), same
 * workload, same run, this machine, on disk and on S3. BENCH_QUICK=1 gives a short smoke version.
 *
 * Starts on loopback, each with fresh storage, and stops them all at the end (or on Ctrl-C):
 * Keel, Distribution as a registry, a second Distribution as the upstream of both
 * pull-through caches, Distribution as a pull-through cache; then one S3 server (a Ceph RADOS
 * Gateway, test/support/s3-server.ts) with a bucket each for Distribution's s3 driver and
 * for Keel on S3. The registry part runs on all four registries; the proxy part on disk.
 * Keel on S3 runs only when this build stores its blobs in the bucket (keel-on-s3.ts);
 * otherwise the output says "Keel on S3: not run (<reason>)". Last, the replica part
 * (replica-workload.ts): 3 Keel replicas on one PostgreSQL and one bucket behind nginx
 * (replica-cluster.ts), in turns with the single Keel on S3. BENCH_ONLY=replicas runs that part
 * alone (with the upstream, the S3 server and Keel on S3 it needs). After the proxy part, the
 * docker pull part (docker-pull-workload.ts): a private dockerd pulls a fresh image through Keel,
 * Distribution's proxy and from the upstream; BENCH_ONLY=pull runs it alone. The small-request
 * steps (manifest GET, blob HEAD) run beside a bare node:http server, their ceiling
 * (small-requests.ts); BENCH_ONLY=small runs them alone on Keel and Distribution on disk, in
 * 3 rounds. BENCH_ONLY=proxy and BENCH_ONLY=slow run the proxy and slow-client parts alone. Prints
 * progress on stderr; the table, the notes and the BENCH_JSON line on stdout. Exit status 2
 * means a tool is missing (the message names its Debian package); 1, that a step failed.
 */
import { rm } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { Cleanup } from '../../test/support/e2e/cleanup.js';
import { BlobData } from './blob-data.js';
import { pushImage, REPO, runLocalWorkload, type Target, type WorkloadContext } from './local-workload.js';
import { runSmallRequests } from './small-requests.js';
import { runProxyWorkload, type ProxyTarget } from './proxy-workload.js';
import { RegistryClient } from './registry-client.js';
import { formatNumber, formatTable, jsonLine, metricDefinitions, Results, targetOutcomes } from './report.js';
import { MiB, benchSettings, formatSize, type BenchSettings } from './settings.js';
import { startKeelOnS3 } from './keel-on-s3.js';
import { startBenchS3, type BenchS3 } from './s3-storage.js';
import { RssPeaks, peakRss, startBenchDistribution, startKeel, type BenchServer } from './servers.js';
import { canDropCaches } from './measure.js';
import { startReplicaCluster } from './replica-cluster.js';
import { runReplicaWorkload } from './replica-workload.js';
import { dockerPullNotes, runDockerPullWorkload } from './docker-pull-workload.js';
import { slowClientSettings } from './slow-client-settings.js';
import { runSlowClientsPart } from './slow-clients-workload.js';
import { MissingToolsError, checkBenchTools } from './tools.js';

/** The name Keel knows the upstream by: /v2/proxy/<name>/<repo>/... */
const UPSTREAM_NAME = 'bench-upstream';
const proxyPath = (repo: string, digest: string): string => `/v2/proxy/${UPSTREAM_NAME}/${repo}/blobs/${digest}`;

/** BENCH_ONLY: every part (unset), or one part alone: "replicas", "pull" (docker pull), "proxy", "slow" (slow clients), "small" (manifest GET and blob HEAD). */
type OnlyPart = 'replicas' | 'pull' | 'proxy' | 'slow' | 'small';
function onlyPart(): OnlyPart | undefined {
  const only = process.env.BENCH_ONLY;
  if (only === undefined || only === '') return undefined;
  if (only === 'replicas' || only === 'pull' || only === 'proxy' || only === 'slow' || only === 'small') return only;
  throw new Error(`BENCH_ONLY is "${only}": expected one of replicas, pull, proxy, slow, small (that part alone) or nothing (every part)`);
}
/** The rows each BENCH_ONLY part reports. */
const ONLY_ROWS: Record<OnlyPart, (id: string) => boolean> = {
  replicas: (id) => id.startsWith('replica_'),
  pull: (id) => id.startsWith('docker_pull_'),
  proxy: (id) => isProxyRow(id),
  slow: (id) => id.startsWith('slow_clients_'),
  small: (id) => isSmall({ id }),
};
const isOnlyPart = (x: unknown): x is OnlyPart => typeof x === 'string' && x in ONLY_ROWS;

const began = performance.now();
const elapsed = (): number => (performance.now() - began) / 1000;
const log = (message: string): void => void process.stderr.write(`[${elapsed().toFixed(1).padStart(5)}s] ${message}\n`);
const round = (n: number): number => Math.round(n * 10) / 10;

const cleanup = new Cleanup();
/** Set once a signal asked us to stop: the handler cleans up and exits, nobody else. */
let interrupted = false;

async function main(): Promise<void> {
  // The harness unrefs its daemons and their stop timers (so a forgotten one cannot hang
  // jest); without this, node would exit in the middle of stopping them. Every way out of
  // this script calls process.exit.
  setInterval(() => undefined, 60_000);
  const settings = benchSettings(process.env.BENCH_QUICK === '1');
  const only = onlyPart();
  await checkBenchTools();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true;
      log(`${signal}: stopping the servers`);
      void cleanup.run().finally(() => process.exit(130));
    });
  }

  log(`${settings.quick ? 'quick' : 'full'} run${only === undefined ? '' : `, BENCH_ONLY=${only}`}: starting servers`);
  const start = async (name: string, starting: Promise<BenchServer>): Promise<BenchServer> =>
    cleanup.add(name, await starting, (s) => s.stop());
  const client = (url: string): RegistryClient => cleanup.add(`client of ${url}`, new RegistryClient(url), async (c) => c.close());
  if (only === 'slow') {
    const results = new Results();
    results.extra.only = 'slow';
    await slowClientsPart(settings, results);
    log('stopping the servers');
    await cleanup.run();
    process.stdout.write(partReport(settings, results, 'Keel vs Distribution 2.8 vs nginx: many slow clients on one blob (BENCH_ONLY=slow)', ONLY_ROWS.slow, slowNotes(settings, results)));
    enforceTargets(settings, results);
    return;
  }
  if (only === 'small') {
    await smallOnly(settings, start, client);
    return;
  }
  const upstream = await start('upstream distribution', startBenchDistribution());
  if (only === 'replicas') {
    await replicasOnly(settings, upstream, client);
    return;
  }
  if (only === 'pull') {
    await pullOnly(settings, upstream, start, client);
    return;
  }
  if (only === 'proxy') {
    await proxyOnly(settings, upstream, start, client);
    return;
  }
  const distribution = await start('distribution', startBenchDistribution());
  const distributionProxy = await start('distribution proxy', startBenchDistribution({ proxy: { remoteUrl: upstream.url } }));
  const keel = await start('keel', startKeel([{ name: UPSTREAM_NAME, url: upstream.url }]));
  log(
    `keel ${keel.url} (pid ${keel.pid}), distribution ${distribution.url} (pid ${distribution.pid}), ` +
      `distribution proxy ${distributionProxy.url} (pid ${distributionProxy.pid}), upstream ${upstream.url}`,
  );
  const s3Start = performance.now();
  const s3 = cleanup.add('s3 server', await startBenchS3(), (x) => x.stop());
  log(`s3 server (Ceph RGW) ${s3.server.endpoint} (pids ${s3.server.pids.join(', ')}) up in ${((performance.now() - s3Start) / 1000).toFixed(1)} s`);
  const { endpoint, region, accessKeyId, secretAccessKey } = s3.server;
  const distributionBucket = await s3.bucket('bench-distribution');
  const distributionS3 = await start(
    'distribution on s3',
    startBenchDistribution({ s3: { endpoint, region, bucket: distributionBucket, accessKeyId, secretAccessKey } }),
  );
  const keelOnS3 = await startKeelOnS3(s3, await s3.bucket('bench-keel'), [{ name: UPSTREAM_NAME, url: upstream.url }]);
  const keelS3 = 'server' in keelOnS3 ? cleanup.add('keel on s3', keelOnS3.server, (x) => x.stop()) : undefined;
  log(
    `distribution on s3 ${distributionS3.url} (pid ${distributionS3.pid}), ` +
      (keelS3 !== undefined ? `keel on s3 ${keelS3.url} (pid ${keelS3.pid})` : `Keel on S3: not run (${'notRun' in keelOnS3 ? keelOnS3.notRun : ''})`),
  );

  const results = new Results();
  if ('notRun' in keelOnS3) {
    results.extra.keel_s3_not_run = keelOnS3.notRun;
    results.notes.push(`Keel on S3: not run (${keelOnS3.notRun}). Its column is empty; no figure stands in for it.`);
  }
  const keelRss = new RssPeaks(keel.pid);
  const distributionRssPeaks = new RssPeaks(distribution.pid);
  const keelS3Rss = keelS3 === undefined ? undefined : new RssPeaks(keelS3.pid);
  const distributionS3Rss = new RssPeaks(distributionS3.pid);
  results.extra.keel_rss_mib_at_start = round((await keelRss.overall()) / MiB);
  if (keelS3Rss !== undefined) results.extra.keel_s3_rss_mib_at_start = round((await keelS3Rss.overall()) / MiB);
  const memory = async (stepId: string): Promise<string> => {
    const mib = round((await keelRss.overall()) / MiB);
    results.extra[`keel_peak_rss_mib_after_${stepId}`] = mib;
    if (keelS3Rss === undefined) return `Keel peak RSS so far ${mib} MiB`;
    const s3Mib = round((await keelS3Rss.overall()) / MiB);
    results.extra[`keel_s3_peak_rss_mib_after_${stepId}`] = s3Mib;
    return `Keel peak RSS so far ${mib} MiB, Keel on S3 ${s3Mib} MiB`;
  };
  const ctx: WorkloadContext = { settings, results, log, memory };

  const onDisk = (server: BenchServer): ((d: string) => Promise<void>) => (d) => rm(server.blobFile('registry', d));
  const local: Target[] = [
    { id: 'keel', url: keel.url, client: client(keel.url), rss: keelRss, removeBlob: onDisk(keel), s3: false },
    { id: 'distribution', url: distribution.url, client: client(distribution.url), rss: distributionRssPeaks, removeBlob: onDisk(distribution), s3: false },
  ];
  if (keelS3 !== undefined && keelS3Rss !== undefined) {
    local.push({ id: 'keel_s3', url: keelS3.url, client: client(keelS3.url), rss: keelS3Rss, removeBlob: inBucket(s3, keelS3), s3: true });
  }
  local.push({
    id: 'distribution_s3',
    url: distributionS3.url,
    client: client(distributionS3.url),
    rss: distributionS3Rss,
    removeBlob: inBucket(s3, distributionS3),
    s3: true,
    accessLog: distributionS3.logFile,
  });
  const localStart = performance.now();
  const leftovers = await runLocalWorkload(ctx, local);
  results.extra.local_seconds = round((performance.now() - localStart) / 1000);
  results.extra.keel_peak_rss_local_mib = round((await keelRss.overall()) / MiB);
  results.extra.s3_server_rss_mib_after_local = round((await s3.server.rssBytes()) / MiB);

  const proxies: ProxyTarget[] = [
    {
      id: 'keel',
      server: keel,
      client: client(keel.url),
      blobPath: proxyPath,
      ...(settings.proxyBlobSize === settings.largeSize ? { localBlobPath: leftovers.largeBlobPath } : {}),
    },
    { id: 'distribution', server: distributionProxy, client: client(distributionProxy.url), blobPath: (repo, d) => `/v2/${repo}/blobs/${d}` },
  ];
  const proxyStart = performance.now();
  await runProxyWorkload(ctx, { server: upstream, client: client(upstream.url) }, proxies);
  results.extra.proxy_seconds = round((performance.now() - proxyStart) / 1000);
  const pullStart = performance.now();
  await runDockerPullWorkload(ctx, { upstream: { server: upstream, client: client(upstream.url) }, keel, keelUpstreamName: UPSTREAM_NAME, distributionProxy }, cleanup);
  results.extra.docker_pull_seconds = round((performance.now() - pullStart) / 1000);

  // Keel is one process for both parts; Distribution needs two (a registry and a proxy).
  const distributionRss = await distributionRssPeaks.overall();
  const distributionProxyRss = await peakRss(distributionProxy.pid);
  results.set('peak_rss_mib', 'keel', (await keelRss.overall()) / MiB);
  results.set('peak_rss_mib', 'distribution', Math.max(distributionRss, distributionProxyRss) / MiB);
  results.extra.distribution_registry_peak_rss_mib = round(distributionRss / MiB);
  results.extra.distribution_proxy_peak_rss_mib = round(distributionProxyRss / MiB);
  // On S3 the proxy part does not run: the whole-run figure is the registry part's.
  if (keelS3Rss !== undefined) results.set('peak_rss_mib', 'keel_s3', (await keelS3Rss.overall()) / MiB);
  results.set('peak_rss_mib', 'distribution_s3', (await distributionS3Rss.overall()) / MiB);

  await slowClientsPart(settings, results);
  await replicaPart(ctx, upstream, keelS3, client);

  log('stopping the servers');
  await cleanup.run();
  process.stdout.write(report(settings, results));
  enforceTargets(settings, results);
}

/** Keel and Distribution's pull-through mode in front of the upstream, for a part run alone (BENCH_ONLY=`only`). */
async function proxyPair(only: OnlyPart, upstream: BenchServer, start: (name: string, starting: Promise<BenchServer>) => Promise<BenchServer>) {
  const distributionProxy = await start('distribution proxy', startBenchDistribution({ proxy: { remoteUrl: upstream.url } }));
  const keel = await start('keel', startKeel([{ name: UPSTREAM_NAME, url: upstream.url }]));
  log(`keel ${keel.url} (pid ${keel.pid}), distribution proxy ${distributionProxy.url} (pid ${distributionProxy.pid}), upstream ${upstream.url}`);
  const results = new Results();
  results.extra.only = only;
  const keelRss = new RssPeaks(keel.pid);
  const memory = async (stepId: string): Promise<string> => {
    const mib = round((await keelRss.overall()) / MiB);
    results.extra[`keel_peak_rss_mib_after_${stepId}`] = mib;
    return `Keel peak RSS so far ${mib} MiB`;
  };
  return { keel, distributionProxy, results, keelRss, memory };
}

/**
 * BENCH_ONLY=proxy: Keel and Distribution's pull-through mode on the one upstream, the proxy
 * part alone (no local GET beside the cache hits: that one comes from the registry part).
 */
async function proxyOnly(
  settings: BenchSettings,
  upstream: BenchServer,
  start: (name: string, starting: Promise<BenchServer>) => Promise<BenchServer>,
  client: (url: string) => RegistryClient,
): Promise<void> {
  const { keel, distributionProxy, results, memory } = await proxyPair('proxy', upstream, start);
  const proxyStart = performance.now();
  await runProxyWorkload({ settings, results, log, memory }, { server: upstream, client: client(upstream.url) }, [
    { id: 'keel', server: keel, client: client(keel.url), blobPath: proxyPath },
    { id: 'distribution', server: distributionProxy, client: client(distributionProxy.url), blobPath: (repo, d) => `/v2/${repo}/blobs/${d}` },
  ]);
  results.extra.proxy_seconds = round((performance.now() - proxyStart) / 1000);
  log('stopping the servers');
  await cleanup.run();
  process.stdout.write(partReport(settings, results, 'Keel vs Distribution 2.8 pull-through (BENCH_ONLY=proxy)', isProxyRow, [proxyMissNote(settings, results)]));
  enforceTargets(settings, results);
}

/** How the cold misses were taken, with every sample (MiB/s, in the order taken). */
function proxyMissNote(settings: BenchSettings, results: Results): string {
  const x = results.extra;
  return (
    `- Cold miss: ${settings.proxyMisses} fresh ${formatSize(settings.proxyBlobSize)} blobs on the upstream; for each, the upstream's own whole GET ` +
    '(the limit: the same Node client, directly), then one miss through each proxy, the proxies\' order alternating from blob to blob, ' +
    '`sync` before each read; medians. Samples, MiB/s: ' +
    `upstream direct ${String(x.proxy_miss_upstream_direct_samples_mibps)}, Keel ${String(x.keel_proxy_miss_samples_mibps)}, ` +
    `Distribution ${String(x.distribution_proxy_miss_samples_mibps)}.`
  );
}

/** The proxy part's rows. */
const isProxyRow = (id: string): boolean => id.startsWith('proxy_') || id === 'upstream_ttfb_ms';

/** The slow-client part on servers of its own (slow-clients-workload.ts), stopped when it ends. */
async function slowClientsPart(settings: BenchSettings, results: Results): Promise<void> {
  const started = performance.now();
  await runSlowClientsPart({ quick: settings.quick, results, log, keep: (name, thing, stop) => cleanup.add(name, thing, stop) });
  results.extra.slow_clients_part_seconds = round((performance.now() - started) / 1000);
}

/** What the slow-client rows measure. */
function slowNotes(settings: BenchSettings, results: Results): string[] {
  const s = slowClientSettings(settings.quick);
  const x = results.extra;
  const share = (id: string): string => (typeof x[`${id}_slow_clients_fast_share`] === 'number' ? `${Math.round(Number(x[`${id}_slow_clients_fast_share`]) * 100)}%` : '?');
  return [
    `- Slow clients: a fresh Keel (defaults: limits.blob_streams 512, blob_send_memory 16 MiB), a fresh Distribution and nginx ` +
      `(1 worker, sendfile on, the same file from disk: the limit column), one at a time; ${s.clients} clients in one Node process ` +
      `(scripts/bench/slow-readers.ts) open their GETs at once and read at ${s.rate / 1e6} MB/s each, comparing every byte. ` +
      `Peak RSS is VmHWM reset just before they start (nginx: master + worker); resident just before: Keel ${String(x.keel_slow_clients_rss_before_mib)} MiB, ` +
      `Distribution ${String(x.distribution_slow_clients_rss_before_mib)} MiB, nginx ${String(x.limit_slow_clients_rss_before_mib)} MiB. ${s.fastDelayMs / 1000} s after they start, ` +
      `a fast client (curl) GETs the blob ${s.fastGets} times (median); the same GETs on the idle server just before give the reference: ` +
      `Keel ${String(x.keel_slow_clients_idle_get_mibps)} MiB/s idle (${share('keel')} of it meanwhile), Distribution ` +
      `${String(x.distribution_slow_clients_idle_get_mibps)} (${share('distribution')}), nginx ${String(x.limit_slow_clients_idle_get_mibps)} (${share('limit')}). ` +
      `The slow clients took Keel ${String(x.keel_slow_clients_seconds)} s, Distribution ${String(x.distribution_slow_clients_seconds)} s, nginx ${String(x.limit_slow_clients_seconds)} s.`,
  ];
}

/** BENCH_ONLY=replicas: the S3 server and Keel on S3 (the reference), then the replica part. */
async function replicasOnly(settings: BenchSettings, upstream: BenchServer, client: (url: string) => RegistryClient): Promise<void> {
  const s3 = cleanup.add('s3 server', await startBenchS3(), (x) => x.stop());
  log(`s3 server (Ceph RGW) ${s3.server.endpoint} (pids ${s3.server.pids.join(', ')})`);
  const keelOnS3 = await startKeelOnS3(s3, await s3.bucket('bench-keel'), [{ name: UPSTREAM_NAME, url: upstream.url }]);
  const keelS3 = 'server' in keelOnS3 ? cleanup.add('keel on s3', keelOnS3.server, (x) => x.stop()) : undefined;
  const results = new Results();
  results.extra.only = 'replicas';
  if ('notRun' in keelOnS3) {
    results.extra.keel_s3_not_run = keelOnS3.notRun;
    results.notes.push(`Keel on S3: not run (${keelOnS3.notRun}). The replica rows have no single-Keel figure and no ratio.`);
  }
  log(keelS3 !== undefined ? `keel on s3 ${keelS3.url} (pid ${keelS3.pid})` : `Keel on S3: not run (${'notRun' in keelOnS3 ? keelOnS3.notRun : ''})`);
  const keelS3Rss = keelS3 === undefined ? undefined : new RssPeaks(keelS3.pid);
  const memory = async (stepId: string): Promise<string> => {
    if (keelS3Rss === undefined) return 'no Keel on S3';
    const mib = round((await keelS3Rss.overall()) / MiB);
    results.extra[`keel_s3_peak_rss_mib_after_${stepId}`] = mib;
    return `Keel on S3 peak RSS so far ${mib} MiB`;
  };
  await replicaPart({ settings, results, log, memory }, upstream, keelS3, client);
  log('stopping the servers');
  await cleanup.run();
  process.stdout.write(report(settings, results));
  enforceTargets(settings, results);
}

/** BENCH_ONLY=pull: Keel and Distribution's proxy in front of the upstream, then the docker pull part. */
async function pullOnly(
  settings: BenchSettings,
  upstream: BenchServer,
  start: (name: string, starting: Promise<BenchServer>) => Promise<BenchServer>,
  client: (url: string) => RegistryClient,
): Promise<void> {
  const { keel, distributionProxy, results, memory, keelRss } = await proxyPair('pull', upstream, start);
  const started = performance.now();
  await runDockerPullWorkload({ settings, results, log, memory }, { upstream: { server: upstream, client: client(upstream.url) }, keel, keelUpstreamName: UPSTREAM_NAME, distributionProxy }, cleanup);
  results.extra.docker_pull_seconds = round((performance.now() - started) / 1000);
  results.extra.docker_pull_keel_peak_rss_mib = round((await keelRss.overall()) / MiB);
  log('stopping the servers');
  await cleanup.run();
  process.stdout.write(partReport(settings, results, 'Keel vs Distribution 2.8: docker pull through the pull-through caches (BENCH_ONLY=pull)', ONLY_ROWS.pull, dockerPullNotes(settings, results)));
  enforceTargets(settings, results);
}

/** BENCH_ONLY=small: Keel, Distribution and the bare node:http server, manifest GET and blob HEAD only, in 3 rounds of turns. */
async function smallOnly(settings: BenchSettings, start: (name: string, s: Promise<BenchServer>) => Promise<BenchServer>, client: (url: string) => RegistryClient): Promise<void> {
  const servers = [
    { id: 'keel' as const, server: await start('keel', startKeel([])) },
    { id: 'distribution' as const, server: await start('distribution', startBenchDistribution()) },
  ];
  const results = new Results();
  results.extra.only = 'small';
  const ctx: WorkloadContext = { settings, results, log, memory: async () => `Keel peak RSS so far ${round((await peakRss(servers[0]?.server.pid ?? 0)) / MiB)} MiB` };
  const targets: Target[] = servers.map(({ id, server }) => ({ id, url: server.url, client: client(server.url), rss: new RssPeaks(server.pid), removeBlob: () => Promise.resolve(), s3: false }));
  const layer = BlobData.create(settings.smallSize);
  for (const t of targets) await t.client.pushMonolithic(REPO, layer);
  for (const t of targets) await pushImage(t.client, layer);
  await runSmallRequests(ctx, targets, `/v2/${REPO}/blobs/${layer.digest}`, 3);
  log('stopping the servers');
  await cleanup.run();
  const defs = metricDefinitions(settings).filter(isSmall);
  const notes = results.notes.map((n) => `- ${n}\n`).join('');
  process.stdout.write(`\nKeel vs Distribution vs bare node:http (BENCH_ONLY=small, 3 rounds, medians), ${new Date().toISOString()}, Node ${process.version}, load average ${loadavg()[0]?.toFixed(1) ?? '?'}\n\n${formatTable(defs, results)}\n\nNotes:\n${notes}\n${jsonLine(defs, results, settings, elapsed())}\n`);
  enforceTargets(settings, results);
}

const isSmall = (d: { id: string }): boolean => d.id.startsWith('manifest_get_') || d.id.startsWith('blob_head_');

/** Starts the replicas (or notes why not), runs the replica part against them and the single Keel on S3. */
async function replicaPart(ctx: WorkloadContext, upstream: BenchServer, keelS3: BenchServer | undefined, client: (url: string) => RegistryClient): Promise<void> {
  const { results } = ctx;
  const started = performance.now();
  const replicaCluster = await startReplicaCluster({ name: UPSTREAM_NAME, url: upstream.url });
  if ('notRun' in replicaCluster) {
    results.extra.replicas_not_run = replicaCluster.notRun;
    results.notes.push(`3 Keel replicas: not run (${replicaCluster.notRun}). Their column is empty; no figure stands in for it.`);
    log(`3 Keel replicas: not run (${replicaCluster.notRun})`);
    return;
  }
  const cluster = cleanup.add('keel replicas', replicaCluster.cluster, (c) => c.stop());
  results.extra.replicas_database = cluster.database.kind;
  // The machine is shared: the 1-minute load average beside the figures says how busy it was.
  results.extra.replica_part_loadavg_start = round(loadavg()[0] ?? 0);
  log(
    `3 keel replicas (pids ${cluster.replicas.map((r) => r.pid()).join(', ')}) on ${cluster.database.kind} and their own RGW (pids ${cluster.s3.pids.join(', ')}), ` +
      `nginx ${cluster.lb.url} (pid ${cluster.lb.pid}), up in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  await runReplicaWorkload(
    ctx,
    { server: upstream, client: client(upstream.url) },
    proxyPath,
    keelS3 === undefined ? undefined : { id: 'keel_s3', url: keelS3.url, client: client(keelS3.url) },
    { id: 'keel_replicas', url: cluster.lb.url, client: client(cluster.lb.url) },
    cluster,
  );
  const rss: number[] = [];
  for (const r of cluster.replicas) rss.push(round((await peakRss(r.pid())) / MiB));
  results.extra.replicas_peak_rss_mib = rss.join('/');
  results.extra.replica_seconds = round((performance.now() - started) / 1000);
  results.extra.replica_part_loadavg_end = round(loadavg()[0] ?? 0);
  // Stopped now, by their PIDs (nginx, replicas, PostgreSQL, their RGW), not left idling.
  await cluster.stop();
}

/**
 * Deletes a blob's object from the server's bucket, then has RGW free its RAM at once; the
 * object must be there (an empty listing would mean the workload looks in the wrong place).
 */
function inBucket(s3: BenchS3, server: BenchServer): (digest: string) => Promise<void> {
  const where = server.s3;
  if (where === undefined) throw new Error(`${server.url} keeps no blobs in a bucket`);
  return async (digest) => {
    const deleted = await s3.deleteBlob(where.bucket, where.blobPrefix, digest);
    if (deleted === 0) throw new Error(`no object for ${digest} under s3://${where.bucket}/${where.blobPrefix}`);
    await s3.collectGarbage();
  };
}

/** What the replica rows mean, or why they are empty. */
function replicaNotes(settings: BenchSettings, results: Results): string[] {
  const x = results.extra;
  if (typeof x.replicas_not_run === 'string') return [];
  return [
    `- 3 replicas: three Keel processes (scripts/keel, this build) on one ${String(x.replicas_database)} index (PostgreSQL 15 unless ` +
      'TEST_CLUSTER_DATABASE says otherwise) and one bucket on a Ceph RGW of their own (redirect off), behind Debian\'s nginx ' +
      '(1 worker, round-robin, no stickiness, no buffering): the HA tests\' deployment (test/support/keel-cluster.ts). They log each ' +
      'request at info (the harness reads its start-up line there); the single Keel logs at warn. nginx, the replicas, wrk and the ' +
      'clients all share this machine\'s cores.',
    `- Replica manifest GET: the registry part's wrk load (${settings.connections} connections, ${settings.warmupSeconds} s warm-up, ` +
      `${settings.loadSeconds} s measured), on Keel on S3 directly and then on nginx, in this part; "3rep/Keel S3" is the replicas' ` +
      `aggregate over that single Keel. nginx sent the measured and warm-up requests ${String(x.replica_manifest_get_by_replica)} to the 3 replicas. ` +
      `The same load on one replica directly (not through nginx): ${String(x.replica_manifest_get_one_replica_direct_rps)} req/s, ` +
      `p99 ${String(x.replica_manifest_get_one_replica_direct_p99_ms)} ms.`,
    `- Replica cold miss: one fresh ${formatSize(settings.replicaHerdBlobSize)} blob on the upstream; ${settings.herdClients} Node clients ` +
      'ask for it at once, first on the single Keel on S3, then through nginx (the caches are apart, so both miss); the time runs until ' +
      `the last client has every byte, each client hashing what it got (all must match). nginx spread the clients ${String(x.replica_herd_clients_by_replica)}. ` +
      'Upstream GETs are counted in the upstream\'s access log; more than 1 for the replicas fails the bench. ' +
      `Replicas' peak RSS: ${String(x.replicas_peak_rss_mib)} MiB.`,
    `- Load average (1 min) on this ${cpus().length}-core machine, shared with other work: ${String(x.replica_part_loadavg_start)} when the replica part ` +
      `started, ${String(x.replica_part_loadavg_end)} when it ended.`,
  ];
}

function report(settings: BenchSettings, results: Results): string {
  if (results.extra.only === 'replicas') return replicaReport(settings, results);
  const defs = metricDefinitions(settings);
  const cpu = cpus();
  const x = results.extra;
  const pct = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '?' : `${Math.round((a / b) * 100)}%`);
  const keelLocalBesideHits = typeof x.keel_local_get_beside_hits_mibps === 'number' ? x.keel_local_get_beside_hits_mibps : undefined;
  const lines = [
    '',
    `Keel vs CNCF Distribution 2.8, ${settings.quick ? 'BENCH_QUICK=1 smoke run' : 'full run'}, ${new Date().toISOString()}, ` +
      `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, Node ${process.version}`,
    '',
    formatTable(defs, results),
    '',
    'Notes:',
    '- Durability: Keel fsyncs a committed blob (the file, then its directory after the rename) before it acknowledges ' +
      'its digest; the push figures include that cost.',
    '- Every blob is fresh random data (a random 1 MiB block with its index stamped in each MiB); both servers get the same bytes. ' +
      '`sync` runs before each timed push, so neither server pays for the other\'s dirty pages' +
      (canDropCaches()
        ? ', then the clean page cache is dropped and the client\'s source file read back into it, so every push starts from the same memory state (writing new page cache slows down here as the cache fills). '
        : '; not root, so the page cache is not dropped before each push, and the push figures follow the state of the cache (run as root for steadier ones). ') +
      'After its timing, each ' +
      'medium and large blob that is not read back later is deleted from the server\'s disk: this virtual disk slows all ' +
      'writes once a few GiB are kept, which had made the later pushes of both servers measure the disk rather than the server.',
    '- Servers and clients share this machine, so the clients are kept light: medium and large monolithic pushes are sent by ' +
      '`curl -T` from a file written before the clock starts, blob GETs and cache hits are read by curl (a Node client reads ' +
      'about half as fast here), load comes from wrk and ab. Small pushes, chunked pushes (each chunk built before its PATCH; ' +
      'only the requests are timed), cache misses and the 20 concurrent clients use a Node client.',
    `- Proxy cache hit as a share of the same server's local ${formatSize(settings.largeSize)} GET: ` +
      `Keel ${pct(results.get('proxy_hit_mibps', 'keel'), keelLocalBesideHits)} ` +
      `(its local GETs taken in turns with the hits: ${formatNumber(keelLocalBesideHits)} MiB/s; ` +
      `${pct(results.get('proxy_hit_mibps', 'keel'), results.get('get_large_mibps', 'keel'))} of the registry part's GET figure), ` +
      `Distribution ${pct(results.get('proxy_hit_mibps', 'distribution'), results.get('get_large_mibps', 'distribution'))} ` +
      '(of its registry\'s GET figure: its proxy serves no local images).',
    proxyMissNote(settings, results),
    `- Cache miss, time between the last two chunks the client got (the end held back for a digest check shows here): ` +
      `Keel ${String(x.keel_proxy_miss_last_chunk_gap_ms)} ms of ${String(x.keel_proxy_miss_total_ms)} ms, ` +
      `Distribution ${String(x.distribution_proxy_miss_last_chunk_gap_ms)} ms of ${String(x.distribution_proxy_miss_total_ms)} ms.`,
    `- Peak RSS is VmHWM from /proc/<pid>/status. Keel is one process for the whole run: ${String(x.keel_rss_mib_at_start)} MiB ` +
      `at start, ${String(x.keel_peak_rss_local_mib)} MiB after the registry part. Distribution's figure is the larger of ` +
      `its registry (${String(x.distribution_registry_peak_rss_mib)} MiB) and its proxy (${String(x.distribution_proxy_peak_rss_mib)} MiB).`,
    '- S3 columns: one Ceph RADOS Gateway (16.2, single node, memstore OSD: objects in RAM) on loopback, started by the bench, ' +
      'one bucket per server; Distribution uses its s3 driver (regionendpoint, v4auth), Keel `registry_storage = "s3://<bucket>/registry"`. ' +
      'Both redirect blob GETs (307 to a presigned URL, their default): the S3 GET figures are curl following that 307, the registry\'s answer ' +
      'plus the whole GET from RGW. Manifests are served by the registries themselves. Blobs not read again are deleted from the bucket after ' +
      'their push and RGW\'s garbage collection is run at once (untimed), so its RAM holds only the kept blobs. The proxy part runs on disk only.',
    `- Peak RSS during a push is VmHWM reset (/proc/<pid>/clear_refs) before each push of that size and read after it; the highest over the pushes. ` +
      `Keel on disk: ${formatNumber(results.get('peak_rss_push_medium_mib', 'keel'))} MiB (${formatSize(settings.mediumSize)}), ` +
      `${formatNumber(results.get('peak_rss_push_large_mib', 'keel'))} MiB (${formatSize(settings.largeSize)}); ` +
      (results.get('peak_rss_push_large_mib', 'keel_s3') === undefined
        ? 'Keel on S3: not measured (not run). '
        : `Keel on S3: ${formatNumber(results.get('peak_rss_push_medium_mib', 'keel_s3'))} and ${formatNumber(results.get('peak_rss_push_large_mib', 'keel_s3'))} MiB. `) +
      `RGW's three daemons after the registry part: ${String(x.s3_server_rss_mib_after_local)} MiB.`,
    ...dockerPullNotes(settings, results),
    ...slowNotes(settings, results),
    ...replicaNotes(settings, results),
    ...results.notes.map((n) => `- ${n}`),
    '',
    `Finished in ${elapsed().toFixed(0)} s (registry part ${String(x.local_seconds)} s, proxy part ${String(x.proxy_seconds)} s, ` +
      `docker pull part ${String(x.docker_pull_seconds)} s, slow-client part ${String(x.slow_clients_part_seconds)} s, replica part ${String(x.replica_seconds)} s).`,
    jsonLine(defs, results, settings, elapsed()),
  ];
  return `${lines.join('\n')}\n`;
}

/** BENCH_ONLY=replicas: the replica rows alone (the JSON line still lists every figure, the others null). */
function replicaReport(settings: BenchSettings, results: Results): string {
  return partReport(settings, results, 'Keel: 1 on S3 vs 3 replicas behind nginx (BENCH_ONLY=replicas)', (id) => id.startsWith('replica_'), replicaNotes(settings, results));
}

/** One part's rows alone (BENCH_ONLY): its table, its notes, and the JSON line with every figure (the others null). */
function partReport(settings: BenchSettings, results: Results, title: string, rows: (id: string) => boolean, notes: readonly string[]): string {
  const defs = metricDefinitions(settings);
  const cpu = cpus();
  const lines = [
    '',
    `${title}, ${settings.quick ? 'BENCH_QUICK=1 smoke run' : 'full run'}, ${new Date().toISOString()}, ` +
      `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, Node ${process.version}`,
    '',
    formatTable(defs.filter((d) => rows(d.id)), results),
    '',
    'Notes:',
    ...notes,
    ...results.notes.map((n) => `- ${n}`),
    '',
    `Finished in ${elapsed().toFixed(0)} s.`,
    jsonLine(defs, results, settings, elapsed()),
  ];
  return `${lines.join('\n')}\n`;
}

/** Thrown after the report is printed when a full run missed a target: exit status 3. */
class TargetsMissedError extends Error {}

/**
 * Prints the verdict on every target after the table; a full run that missed one (or did not
 * measure it) fails with exit status 3. The smoke run is too short to judge speed: it prints.
 */
function enforceTargets(settings: BenchSettings, results: Results): void {
  const only = results.extra.only;
  const defs = metricDefinitions(settings).filter((d) => (isOnlyPart(only) ? ONLY_ROWS[only](d.id) : true));
  const outcomes = targetOutcomes(defs, results);
  const missed = outcomes.filter((o) => o.verdict?.met !== true);
  const lines = missed.map((o) => `  ${o.def.label.trim()}: ${o.target.text}: ${o.verdict === undefined ? 'not measured' : `MISSED (${o.verdict.shown})`}`);
  if (missed.length === 0) {
    process.stdout.write(`Targets: all ${outcomes.length} met.\n`);
    return;
  }
  if (settings.quick) {
    process.stdout.write(`Targets (BENCH_QUICK=1, not enforced): ${missed.length} of ${outcomes.length} not met:\n${lines.join('\n')}\n`);
    return;
  }
  throw new TargetsMissedError(`${missed.length} of ${outcomes.length} targets missed:\n${lines.join('\n')}`);
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    if (interrupted) return; // the signal handler is cleaning up and will exit
    if (err instanceof TargetsMissedError) {
      process.stdout.write(`TARGETS MISSED: ${err.message}\n`);
      process.stderr.write(`bench: ${err.message.split('\n')[0] ?? ''}\n`);
      process.exit(3);
    }
    if (err instanceof MissingToolsError) {
      process.stderr.write(`bench: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`bench: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanup.run().catch((e: unknown) => process.stderr.write(`bench: ${String(e)}\n`));
    process.exit(1);
  },
);
