/**
 * Cache warming: images fetched into the proxy store before the first node pulls them
 * (POST /api/v1/warm, which `scripts/warm` calls). Everything goes through PullThrough, the
 * path a live pull takes, so a warm download and a live pull of the same blob are one
 * download (its single-flight here, its download lease across replicas), and what warming
 * stores obeys cache retention like any cached image.
 *
 * For each reference (`proxy/<upstream>/<repository>:<tag>` or `@<digest>`): the manifest,
 * for an index the children of the chosen platforms (every child when none is chosen), then
 * each image's config and layers, at most `concurrency` downloads at a time, and only one while
 * clients' own downloads run (live traffic first); the downloads it starts itself read the
 * upstream at warming's pace (warm-pace.ts: a trickle while clients' downloads run,
 * `proxy.warm.bandwidth` otherwise) until a client joins them. A dry run reads
 * the manifests (through the cache, so they are cached) to say what the images hold, and
 * fetches no blob. With `pin`, each image warmed is pinned (by the tag or digest named): cache
 * retention keeps it whatever its age or the size cap, until a request with `unpin` (which
 * fetches nothing) lets it go. A run whose `stopped()` turns true (the API's client went
 * away, the server is closing) starts no further blob; downloads already started finish.
 * What is warm, what failed and what is pending goes to the injected WarmMetrics.
 */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { RegistryError } from '../primitives/errors.js';
import { formatImageRef, parseImageRef, type ImageRef } from '../primitives/image-ref.js';
import { formatPlatform, matchesPlatform, platformsOf, type Platform } from '../primitives/platform.js';
import type { Digest, Reference } from '../primitives/types.js';
import { parseManifest } from '../registry/manifest-parser.js';
import { isProxyName, parseProxyName, type ProxyName } from './proxy-name.js';
import type { PullThrough } from './pull-through.js';
import { noWarmMetrics, type WarmMetrics } from './warm-metrics.js';

/** Downloads one warm request runs at once, unless told otherwise. */
export const WARM_CONCURRENCY = 3;
/** How often a warm download waiting for live traffic looks again. */
const YIELD_POLL_MS = 50;
/** Nested indexes deeper than this are refused (a loop of indexes would never end). */
const MAX_DEPTH = 4;

export interface WarmRequest {
  references: readonly string[];
  /** Children of an index to fetch; empty: all of them. */
  platforms: readonly Platform[];
  dryRun: boolean;
  /** Pin each image once warm (cache retention never evicts it). */
  pin?: boolean;
  /** Only remove the references' pins: nothing is fetched. */
  unpin?: boolean;
  /** Ask the upstream about each tag named even within its TTL (a HEAD; a GET only if it moved): scheduled sync. */
  revalidate?: boolean;
}

/** How a blob ended: already in the cache, fetched now, or (dry run) not cached yet. */
export type BlobState = 'cached' | 'fetched' | 'missing';

export type WarmEvent =
  | { event: 'image'; reference: string; digest: string; manifests: number; blobs: number; bytes: number }
  | { event: 'blob'; reference: string; digest: string; size: number; state: BlobState }
  | { event: 'failed'; reference: string; code: string; message: string };

export interface WarmedImage {
  reference: string;
  /** The digest the reference named (an index's, for a multi-platform image). */
  digest?: string;
  manifests: number;
  blobs: number;
  bytes: number;
  fetched: { blobs: number; bytes: number };
  cached: { blobs: number; bytes: number };
  /** Blobs a dry run would fetch. */
  missing: { blobs: number; bytes: number };
  /** Set when the request pinned or unpinned the image. */
  pinned?: boolean;
  error?: { code: string; message: string };
}

export interface WarmSummary {
  dry_run: boolean;
  images: WarmedImage[];
  failed: number;
}

export interface WarmerDeps {
  proxy: PullThrough;
  logger: Logger;
  concurrency?: number;
  /** How long a download waiting for live traffic sleeps before it looks again (tests shorten it). */
  yieldPollMs?: number;
  metrics?: WarmMetrics;
}

/** A destination that takes nothing: warming waits for the blob to be stored, it reads none of it. */
const nowhere = (): Writable => new Writable({ write: (_chunk, _encoding, done) => done() });

export class Warmer {
  private readonly limit: ReturnType<typeof pLimit>;
  /** Blob reads of warming in progress, by digest (a digest warmed by two requests counts twice). */
  private readonly reading = new Map<string, number>();
  private readonly metrics: WarmMetrics;

  constructor(private readonly deps: WarmerDeps) {
    this.limit = pLimit(deps.concurrency ?? WARM_CONCURRENCY);
    this.metrics = deps.metrics ?? noWarmMetrics;
  }

  /** The references as the API takes them, checked before anything is fetched. */
  static parseReferences(references: readonly string[]): ImageRef[] {
    return references.map((text) => {
      const parsed = parseImageRef(text);
      if (!isProxyName(parsed.repo)) {
        throw new RegistryError('DENIED', 'only images under proxy/ can be warmed (proxy/<upstream>/<repository>:<tag>)', { reference: text.slice(0, 300) });
      }
      parseProxyName(parsed.repo);
      return parsed;
    });
  }

  /** Warms every reference in turn; `stopped()` true ends the run before its next blob. */
  async warm(request: WarmRequest, onEvent: (event: WarmEvent) => void, stopped: () => boolean = () => false): Promise<WarmSummary> {
    const images: WarmedImage[] = [];
    const refs = Warmer.parseReferences(request.references);
    this.metrics.warmRuns(1);
    try {
      for (const ref of refs) {
        if (stopped()) break;
        images.push(await this.image(ref, request, onEvent, stopped));
      }
    } finally {
      this.metrics.warmRuns(-1);
    }
    return { dry_run: request.dryRun, images, failed: images.filter((i) => i.error !== undefined).length };
  }

  private async image(ref: ImageRef, request: WarmRequest, onEvent: (event: WarmEvent) => void, stopped: () => boolean): Promise<WarmedImage> {
    const reference = formatImageRef(ref);
    const result: WarmedImage = { reference, manifests: 0, blobs: 0, bytes: 0, fetched: { blobs: 0, bytes: 0 }, cached: { blobs: 0, bytes: 0 }, missing: { blobs: 0, bytes: 0 } };
    const name = parseProxyName(ref.repo);
    // Counted only when the request fetches: a dry run or an unpin warms nothing.
    const counts = !request.dryRun && request.unpin !== true;
    let skipped = 0;
    try {
      if (request.unpin === true) {
        if (!request.dryRun) await this.deps.proxy.pin(name, ref.ref, false);
        result.pinned = false;
        return result;
      }
      const blobs = new Map<Digest, number>();
      const top = await this.manifests(name, ref.ref, request.platforms, blobs, result, 0, request.revalidate === true);
      result.digest = top;
      result.blobs = blobs.size;
      result.bytes = [...blobs.values()].reduce((a, b) => a + b, 0);
      onEvent({ event: 'image', reference, digest: top, manifests: result.manifests, blobs: result.blobs, bytes: result.bytes });
      if (counts) this.metrics.warmPending(result.blobs, result.bytes);
      // Settled, not all: every blob's download is over before the image is reported.
      const outcomes = await Promise.allSettled(
        [...blobs].map(([digest, size]) =>
          this.limit(async () => {
            try {
              if (stopped()) {
                skipped++;
                return;
              }
              const state = await this.blob(name, digest, request.dryRun);
              result[state].blobs++;
              result[state].bytes += size;
              if (counts && state !== 'missing') this.metrics.warmBlob(this.upstreamOf(name), state, size);
              onEvent({ event: 'blob', reference, digest, size, state });
            } finally {
              if (counts) this.metrics.warmPending(-1, -size);
            }
          }),
        ),
      );
      const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failure) throw failure.reason;
      const pin = request.pin === true && !request.dryRun;
      if (skipped > 0 || (pin && stopped())) {
        if (counts) this.metrics.warmImage(this.upstreamOf(name), 'stopped');
        this.deps.logger.info({ reference, digest: top, fetched: result.fetched, cached: result.cached, not_started: skipped }, 'warm: image stopped');
        return result;
      }
      if (pin) {
        await this.deps.proxy.pin(name, ref.ref, true);
        result.pinned = true;
      }
      if (counts) this.metrics.warmImage(this.upstreamOf(name), 'warm');
      this.deps.logger.info({ reference, digest: top, fetched: result.fetched, cached: result.cached, dry_run: request.dryRun, pinned: result.pinned }, 'warm: image done');
    } catch (err) {
      const error = err instanceof RegistryError ? { code: err.code, message: err.message } : { code: 'UNAVAILABLE', message: (err as Error).message };
      result.error = error;
      if (counts) this.metrics.warmImage(this.upstreamOf(name), 'failed');
      onEvent({ event: 'failed', reference, ...error });
      this.deps.logger.warn({ reference, error }, 'warm: image failed');
    }
    return result;
  }

  /**
   * The upstream or group the metrics name (an alias counts under what it stands for, as in
   * keel_proxy_*); "" for a name no upstream answers, so a caller cannot add series at will.
   */
  private upstreamOf(name: ProxyName): string {
    try {
      return this.deps.proxy.source(name).name;
    } catch {
      return '';
    }
  }

  /** Reads the manifest (and the chosen children of an index), collecting the blobs they name; returns its digest. */
  private async manifests(name: ProxyName, ref: Reference, platforms: readonly Platform[], blobs: Map<Digest, number>, result: WarmedImage, depth: number, revalidate = false): Promise<Digest> {
    if (depth > MAX_DEPTH) throw new RegistryError('MANIFEST_INVALID', `indexes nested more than ${MAX_DEPTH} deep`);
    // Only the tag named can move; the children an index names are by digest.
    const { record, bytes } = await this.deps.proxy.manifest(name, ref, revalidate ? { revalidate } : {});
    result.manifests++;
    const parsed = parseManifest(bytes, record.mediaType);
    for (const b of parsed.blobs) blobs.set(b.digest, b.size);
    if (parsed.manifests.length > 0) {
      const of = platformsOf(bytes);
      const chosen = platforms.length === 0 ? parsed.manifests : parsed.manifests.filter((m) => platforms.some((p) => matchesPlatform(of.get(m.digest), p)));
      if (chosen.length === 0) {
        throw new RegistryError('MANIFEST_UNKNOWN', `the index has no manifest for ${platforms.map(formatPlatform).join(', ')}`, { digest: record.digest });
      }
      for (const child of chosen) await this.manifests(name, { kind: 'digest', digest: child.digest }, platforms, blobs, result, depth + 1);
    }
    return record.digest;
  }

  private async blob(name: ProxyName, digest: Digest, dryRun: boolean): Promise<BlobState> {
    const { proxy } = this.deps;
    if (dryRun) return (await proxy.isCached(name, digest)) ? 'cached' : 'missing';
    await this.enter(digest);
    try {
      const blob = await proxy.blob(name, digest, { warming: true });
      // A blob already stored answers stored() with itself; a download with the blob once stored.
      return (await blob.stored(nowhere())) === blob ? 'cached' : 'fetched';
    } finally {
      const left = (this.reading.get(digest) ?? 1) - 1;
      if (left === 0) this.reading.delete(digest);
      else this.reading.set(digest, left);
    }
  }

  /**
   * Live traffic first: while downloads of blobs warming is not reading run (clients' misses;
   * a client joining a warm download does not count), warming goes on one read at a time.
   */
  private mayStart(): boolean {
    return this.reading.size === 0 || this.deps.proxy.downloadsExcept(this.reading) === 0;
  }

  /** Counts a read in once mayStart() allows it, in the same step as the check, so two waiting reads cannot both pass. */
  private async enter(digest: Digest): Promise<void> {
    for (let first = true; !this.mayStart(); first = false) {
      if (first) this.deps.logger.info({ digest, warming: this.reading.size }, 'warm: yielding to live downloads');
      await sleep(this.deps.yieldPollMs ?? YIELD_POLL_MS);
    }
    this.reading.set(digest, (this.reading.get(digest) ?? 0) + 1);
  }
}
