/**
 * The registry part: the same pushes, GETs and concurrent load against Keel and against
 * Distribution, on disk and on S3, all servers taking turns within each step, with fresh
 * random blobs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobData } from './blob-data.js';
import { curlFirstAnswer, curlGet } from './curl-get.js';
import type { LoadResult } from './load.js';
import { median, mibPerSecond, settleBeforePush, syncDisks } from './measure.js';
import type { RegistryClient } from './registry-client.js';
import { SERVER_LABEL, type Results, type ServerId } from './report.js';
import type { RssPeaks } from './servers.js';
import { runSmallRequests } from './small-requests.js';
import { MiB, formatSize, type BenchSettings } from './settings.js';

export interface Target {
  id: ServerId;
  url: string;
  client: RegistryClient;
  /** The server process's memory (peaks during the timed pushes). */
  rss: RssPeaks;
  /**
   * Removes a pushed blob's bytes from where the server keeps them (its file on disk, or its
   * object in the bucket). Untimed: see dropBlob below.
   */
  removeBlob(digest: string): Promise<void>;
  /** On S3: blob GETs answer 307 to the object store, and the timed GET follows it. */
  s3: boolean;
  /** Distribution's log with its access log: where the statuses of redirected HEADs are checked. */
  accessLog?: string;
}

export interface WorkloadContext {
  settings: BenchSettings;
  results: Results;
  log(message: string): void;
  /** Records Keel's peak RSS so far under `stepId`; resolves with a few words for the log. */
  memory(stepId: string): Promise<string>;
}

export const REPO = 'bench/app';
export const TAG = 'bench';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/**
 * Measures each server `rounds` times, taking turns (Keel, Distribution, Keel on S3,
 * Distribution on S3, Keel, ...) so a noisy neighbour on the machine hits all alike; records
 * each server's median.
 */
async function step(
  ctx: WorkloadContext,
  targets: readonly Target[],
  id: string,
  rounds: number,
  measure: (t: Target, round: number) => Promise<number>,
): Promise<void> {
  const samples = new Map<ServerId, number[]>(targets.map((t) => [t.id, []]));
  for (let round = 0; round < rounds; round++) {
    for (const t of targets) samples.get(t.id)?.push(await measure(t, round));
  }
  const figures: string[] = [];
  for (const t of targets) {
    const list = samples.get(t.id) ?? [];
    const value = median(list);
    ctx.results.set(id, t.id, value);
    figures.push(`${SERVER_LABEL[t.id]} ${value.toFixed(2)}${list.length > 1 ? ` (${list.map((v) => v.toFixed(0)).join(', ')})` : ''}`);
  }
  ctx.log(`${id}: ${figures.join(', ')}; ${await ctx.memory(id)}`);
}

/** Fresh blobs, one per round; generating them is not timed. */
function blobs(count: number, size: number): BlobData[] {
  return Array.from({ length: count }, () => BlobData.create(size));
}

/**
 * Writes every blob of a step to a temp file (untimed) before the step starts, for curl to
 * send, and removes them afterwards. All are written first so that neither server pushes
 * a file written just before its turn (which, written per round, was always Keel's).
 */
async function withBlobFiles(list: readonly BlobData[], work: (path: (round: number) => string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'keel-bench-blobs-'));
  try {
    const paths: string[] = [];
    for (const [i, blob] of list.entries()) {
      const path = join(dir, String(i));
      await blob.writeFile(path);
      paths.push(path);
    }
    await work((round) => {
      const path = paths[round];
      if (path === undefined) throw new Error(`no blob file for round ${round}`);
      return path;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Removes a blob the workload will not read again from the server's disk (or bucket) once its
 * push is timed. This machine's virtual disk slows every write once a few GiB have been written and
 * kept: pushing 512 MiB blobs one after another and keeping them, Distribution fell from 250 to
 * 150-190 MiB/s and Keel from 450 to 190-220 MiB/s within three pushes, whichever server had
 * written them. Freed at once, neither slowed. The push itself (bytes received, hashed,
 * written and fsynced, then renamed and indexed) is all inside the timing; only the bytes
 * left on disk after it are not. On S3 the same holds for RAM: the test RGW keeps objects in
 * memory (s3-storage.ts).
 */
async function dropBlob(t: Target, blob: BlobData): Promise<void> {
  await t.removeBlob(blob.digest);
}

function pick(list: readonly BlobData[], index: number): BlobData {
  const blob = list[index];
  if (blob === undefined) throw new Error(`no blob #${index}`);
  return blob;
}

/** Pushes fresh medium blobs to each server, untimed, and removes them again. */
async function warmUp(ctx: WorkloadContext, targets: readonly Target[]): Promise<void> {
  const s = ctx.settings;
  const list = blobs(s.warmupPushes, s.mediumSize);
  await withBlobFiles(list, async (path) => {
    for (const t of targets) {
      for (const [round, blob] of list.entries()) {
        await t.client.pushFile(REPO, blob, path(round));
        await dropBlob(t, blob);
      }
    }
  });
  ctx.log(`warm-up: ${s.warmupPushes} untimed ${formatSize(s.mediumSize)} pushes to each server`);
}

/** What the registry part leaves on the servers for the proxy part to read. */
export interface LocalLeftovers {
  /** The URL path of a blob of `largeSize` bytes that every server keeps. */
  largeBlobPath: string;
}

export async function runLocalWorkload(ctx: WorkloadContext, targets: readonly Target[]): Promise<LocalLeftovers> {
  const s = ctx.settings;
  await warmUp(ctx, targets);
  const small = blobs(s.smallCount, s.smallSize);
  await step(ctx, targets, 'push_small_mibps', 1, async (t) => {
    await settleBeforePush();
    let ms = 0;
    for (const blob of small) ms += await t.client.pushMonolithic(REPO, blob);
    return mibPerSecond(s.smallCount * s.smallSize, ms);
  });

  const mediums = blobs(s.mediumPushes, s.mediumSize);
  const larges = blobs(s.largePushes, s.largeSize);
  for (const [id, rssId, list, size] of [
    ['push_medium_mibps', 'peak_rss_push_medium_mib', mediums, s.mediumSize],
    ['push_large_mibps', 'peak_rss_push_large_mib', larges, s.largeSize],
  ] as const) {
    // Each server's highest peak RSS over its pushes of this size (VmHWM reset before each).
    const peaks = new Map<ServerId, number>();
    await withBlobFiles(list, (path) =>
      step(ctx, targets, id, list.length, async (t, round) => {
        await settleBeforePush(path(round));
        const blob = pick(list, round);
        const { value: ms, peak } = await t.rss.during(() => t.client.pushFile(REPO, blob, path(round)));
        if (peak !== undefined) peaks.set(t.id, Math.max(peak, peaks.get(t.id) ?? 0));
        // The first blob of each size is read back by the GET steps.
        if (round > 0) await dropBlob(t, blob);
        return mibPerSecond(size, ms);
      }),
    );
    for (const [server, peak] of peaks) ctx.results.set(rssId, server, peak / MiB);
    if (peaks.size === 0) ctx.results.notes.push(`Peak RSS during the ${formatSize(size)} pushes: not measured (resetting VmHWM needs root).`);
  }

  const chunked = blobs(s.largePushes, s.largeSize);
  await step(ctx, targets, 'push_chunked_mibps', s.largePushes, async (t, round) => {
    await settleBeforePush();
    const blob = pick(chunked, round);
    const ms = await t.client.pushChunked(REPO, blob, s.chunkSize);
    await dropBlob(t, blob);
    return mibPerSecond(s.largeSize, ms);
  });
  await syncDisks();

  for (const t of targets.filter((x) => x.s3)) await checkRedirect(ctx, t, pick(mediums, 0).digest);
  for (const [id, blob] of [
    ['get_medium_mibps', pick(mediums, 0)],
    ['get_large_mibps', pick(larges, 0)],
  ] as const) {
    await step(ctx, targets, id, s.getRepeats, async (t) => {
      // On S3 curl follows the registry's 307 to the presigned URL, as docker and containerd
      // do: the time is the registry's answer plus the whole GET from RGW.
      const d = await curlGet(`${t.url}/v2/${REPO}/blobs/${blob.digest}`, { follow: t.s3 });
      if (d.bytes !== blob.size) throw new Error(`${t.id}: GET ${blob.digest} gave ${d.bytes} of ${blob.size} bytes`);
      return mibPerSecond(d.bytes, d.totalMs);
    });
  }

  const layer = pick(small, 0);
  for (const t of targets) await pushImage(t.client, layer);
  // Manifest GET and blob HEAD under load, beside a bare node:http server (small-requests.ts).
  await runSmallRequests(ctx, targets, `/v2/${REPO}/blobs/${layer.digest}`);
  return { largeBlobPath: `/v2/${REPO}/blobs/${pick(larges, 0).digest}` };
}

/**
 * Untimed: what a blob GET on S3 answers first. A 307 to the S3 server is the expected
 * (default) behaviour of both servers; anything else is said in the notes, since the GET
 * figures then measure something else.
 */
async function checkRedirect(ctx: WorkloadContext, t: Target, digest: string): Promise<void> {
  const first = await curlFirstAnswer(`${t.url}/v2/${REPO}/blobs/${digest}`);
  const host = first.location === '' ? '' : new URL(first.location).host;
  ctx.results.extra[`${t.id}_blob_get_first_status`] = first.status;
  ctx.results.extra[`${t.id}_blob_get_redirect_host`] = host;
  ctx.log(`blob GET on S3: ${SERVER_LABEL[t.id]} answers ${first.status}${host === '' ? '' : ` to ${host}`}`);
  if (first.status !== 307) ctx.results.notes.push(`${SERVER_LABEL[t.id]}: blob GET answered ${first.status}, not 307: its GET figures are served by the registry itself.`);
}

/** A warm-up run, then the measured one, each target in turn; records req/s and p99. */
export async function loadStep<T extends { id: ServerId }>(
  ctx: WorkloadContext,
  targets: readonly T[],
  name: string,
  runLoad: (t: T, seconds: number) => Promise<LoadResult>,
): Promise<void> {
  for (const t of targets) {
    await runLoad(t, ctx.settings.warmupSeconds);
    const r = await runLoad(t, ctx.settings.loadSeconds);
    ctx.results.set(`${name}_rps`, t.id, r.requestsPerSecond);
    ctx.results.set(`${name}_p99_ms`, t.id, r.p99Ms);
    ctx.results.extra[`${t.id}_${name}_requests`] = r.requests;
    ctx.results.extra[`${t.id}_${name}_errors`] = r.errors;
    if (r.errors > 0) ctx.results.notes.push(`${SERVER_LABEL[t.id]}: ${r.errors} socket errors during ${name}.`);
    ctx.log(`${name}: ${SERVER_LABEL[t.id]} ${r.requestsPerSecond.toFixed(0)} req/s, p99 ${r.p99Ms.toFixed(2)} ms; ${await ctx.memory(name)}`);
  }
}

/** A one-layer OCI image tagged TAG in REPO (the layer already pushed there): the manifest wrk asks for. */
export async function pushImage(client: RegistryClient, layer: BlobData): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const configDigest = await client.pushBytes(REPO, config);
  await client.putManifest(REPO, TAG, OCI_MANIFEST, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
  });
}
