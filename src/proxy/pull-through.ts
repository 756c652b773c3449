/**
 * The pull-through cache: reads under `proxy/<upstream>/...` served from the proxy store,
 * filled from the upstream on a miss.
 *
 * - Manifests by digest come from the store without asking the upstream.
 * - Manifests by tag come from the store while the tag is younger than its TTL; after that
 *   a HEAD revalidates it (not counted by Docker Hub's pull limit) and a GET only follows
 *   when the digest changed. Only a GET changes or removes a cached tag: a HEAD naming a
 *   digest the upstream then does not have is followed by a GET of the tag. If the upstream
 *   is down, slow or limiting (5xx, 429, timeout), the last cached manifest is served and a
 *   warning logged.
 * - Concurrent requests for the same manifest share one lookup, so N cold pulls of a tag
 *   cost one upstream GET (Docker Hub counts manifest GETs against its pull limit).
 * - Blobs stream to the client while they download (blob-fetcher.ts). A blob is stored once
 *   per source, but served only to repositories the upstream showed have it (see blob()):
 *   what one user's pull of a private repository brought in is no cache hit for another.
 *   A stored blob may be handed out as a redirect (a presigned URL of an object store) under
 *   the same rule: only where Keel would have sent the bytes itself.
 */
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { ignoreIntegrityFailures, sendContent, type IntegrityReporter } from '../registry/blob-integrity.js';
import type { Clock } from '../primitives/clock.js';
import { digestBuffer } from '../primitives/digest.js';
import { RegistryError } from '../primitives/errors.js';
import { parseManifest } from '../registry/manifest-parser.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../primitives/media-types.js';
import { readCapped } from '../primitives/read-capped.js';
import { digestAlgorithm, isRepoName, parseDigest, type Digest, type Reference } from '../primitives/types.js';
import type { BlobStore, ByteRange } from '../storage/blob-store.js';
import type { CachedBlob, CachedManifest, ProxyIndex } from '../storage/proxy-index.js';
import { ContentIntegrityError } from '../storage/storage-errors.js';
import type { BlobFetcher } from './blob-fetcher.js';
import type { ProxyName } from './proxy-name.js';
import { noProxyMetrics, type ProxyMetrics } from './proxy-metrics.js';
import { SingleFlight } from './single-flight.js';
import type { SourceReply, SourceRequester } from './source-requester.js';
import { memberRepository, type Source, type Sources } from './sources.js';
import { isUnavailable, upstreamTooLarge } from './upstream-errors.js';

const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(', ');
/** Tag lists (and catalog pages) are read whole; more than this from an upstream is refused. */
const MAX_TAG_LIST = 16 * 1024 * 1024;

export interface ProxiedBlob {
  size: number | undefined;
  /** Writes the blob (or a range) to dest without ending it, as it is stored or as it arrives. */
  send(dest: Writable, range?: ByteRange): Promise<void>;
  /**
   * The same blob once it is verified and stored (at once if it already is), read from the
   * store. For ranges: only a read to the end of a download is held back until its digest
   * matches. Rejects with the download's error if it fails, or when `dest` closes first.
   */
  stored(dest: Writable): Promise<ProxiedBlob>;
  /**
   * A URL the client may fetch the stored blob from itself (a presigned object-store URL);
   * only on a blob that is stored and that this repository may see (see blob()), and only
   * when the store offers one. Undefined for a download in progress: its bytes stream here.
   */
  redirectUrl?(): Promise<string | undefined>;
}

export interface PullThroughDeps {
  sources: Sources;
  requester: SourceRequester;
  fetcher: BlobFetcher;
  index: ProxyIndex;
  content: BlobStore;
  clock: Clock;
  logger: Logger;
  maxManifestSize: number;
  metrics?: ProxyMetrics;
  /** Hears cached blob files found to disagree with the proxy index (logs and metrics). */
  integrity?: IntegrityReporter;
}

export class PullThrough {
  /** Concurrent requests for one manifest share one lookup (and so one upstream HEAD or GET). */
  private readonly manifestFlights: SingleFlight<CachedManifest>;
  /** Concurrent checks that the upstream has a cached blob in one repository share one HEAD. */
  private readonly confirmations = new SingleFlight<number>();
  private readonly metrics: ProxyMetrics;

  constructor(private readonly deps: PullThroughDeps) {
    this.metrics = deps.metrics ?? noProxyMetrics;
    this.manifestFlights = new SingleFlight<CachedManifest>(() => this.metrics.joined('manifest'));
  }

  /** The upstream or group a proxied name reads from (DENIED if none is allowed). */
  source(name: ProxyName): Source {
    return this.deps.sources.resolve(name.upstream);
  }

  /**
   * `revalidate` (scheduled sync only) asks the upstream about a cached tag even within its
   * TTL: a HEAD, and a GET only when the digest changed. It never joins a lookup that might
   * answer from the cache without asking.
   */
  async manifest(name: ProxyName, ref: Reference, options: { revalidate?: boolean } = {}): Promise<{ record: CachedManifest; bytes: Buffer }> {
    const source = this.source(name);
    const revalidate = options.revalidate === true && ref.kind === 'tag';
    const key = `${source.name}\n${name.repo}\n${ref.kind === 'digest' ? ref.digest : ref.tag}${revalidate ? '\nrevalidate' : ''}`;
    const record = await this.manifestFlights.run(key, () =>
      ref.kind === 'digest' ? this.manifestByDigest(source, name, ref.digest) : this.manifestByTag(source, name, ref.tag, revalidate),
    );
    const bytes = await this.deps.content.readBytes(record.digest, Math.max(record.size, this.deps.maxManifestSize));
    return { record, bytes };
  }

  private async manifestByDigest(source: Source, name: ProxyName, digest: Digest): Promise<CachedManifest> {
    const { index, content, clock } = this.deps;
    const cached = await index.getManifest(source.name, name.repo, digest);
    if (cached && (await content.size(digest)) === cached.size) {
      await index.touchManifest(source.name, name.repo, digest, clock.now());
      this.metrics.cacheHit(source.name, 'manifest');
      return cached;
    }
    this.metrics.cacheMiss(source.name, 'manifest');
    return this.fetchManifest(source, name, digest, undefined);
  }

  private async manifestByTag(source: Source, name: ProxyName, tag: string, revalidate: boolean): Promise<CachedManifest> {
    const { index, content, clock, logger } = this.deps;
    const cached = await index.getTag(source.name, name.repo, tag);
    const usable = cached && (await content.size(cached.digest)) === cached.size ? cached : undefined;
    if (usable && !revalidate && clock.now() - usable.checkedAt < source.tagTtlMs) {
      await index.touchTag(source.name, name.repo, tag, clock.now());
      this.metrics.cacheHit(source.name, 'manifest');
      return usable;
    }
    try {
      // After the TTL, a HEAD tells whether the tag moved; the manifest is fetched by digest if it did.
      let current: Digest | undefined;
      if (usable) {
        current = await this.headDigest(source, name, tag);
        if (current === usable.digest) {
          await index.confirmTag(source.name, name.repo, tag, clock.now());
          this.metrics.cacheHit(source.name, 'manifest');
          return usable;
        }
      }
      this.metrics.cacheMiss(source.name, 'manifest');
      if (current === undefined) return await this.fetchManifest(source, name, tag, tag);
      try {
        return await this.fetchManifest(source, name, current, tag);
      } catch (err) {
        // The HEAD named a digest the upstream does not have: the HEAD is not to be believed
        // (a broken mirror, a lying upstream). Only a GET of the tag decides whether it moved
        // or is gone; until then the cached tag stays.
        if (!(err instanceof RegistryError && err.code === 'MANIFEST_UNKNOWN')) throw err;
        logger.warn({ upstream: source.name, repository: name.repo, tag, digest: current }, 'upstream HEAD named a manifest it does not have; asking for the tag');
        return await this.fetchManifest(source, name, tag, tag);
      }
    } catch (err) {
      if (usable && isUnavailable(err)) {
        logger.warn({ upstream: source.name, repository: name.repo, tag, error: (err as Error).message }, 'upstream unavailable: serving the cached manifest');
        return usable;
      }
      if (err instanceof RegistryError && err.code === 'MANIFEST_UNKNOWN' && cached) await index.deleteTag(source.name, name.repo, tag);
      throw err;
    }
  }

  /** The digest the upstream's tag points at now, from a HEAD; undefined if it does not say. */
  private async headDigest(source: Source, name: ProxyName, tag: string): Promise<Digest | undefined> {
    const { reply } = await this.deps.requester.request(
      source,
      { method: 'HEAD', repo: name.repo, suffix: `manifests/${tag}`, headers: { accept: MANIFEST_ACCEPT } },
      'MANIFEST_UNKNOWN',
    );
    reply.body.resume();
    const header = reply.headers['docker-content-digest'];
    try {
      return typeof header === 'string' ? parseDigest(header) : undefined;
    } catch {
      return undefined;
    }
  }

  /** GETs a manifest by tag or digest, verifies it, stores it, records it (and the tag). */
  private async fetchManifest(source: Source, name: ProxyName, reference: string, tag: string | undefined): Promise<CachedManifest> {
    const { requester, content, index, clock, logger } = this.deps;
    const { member, reply } = await requester.request(
      source,
      { method: 'GET', repo: name.repo, suffix: `manifests/${reference}`, headers: { accept: MANIFEST_ACCEPT } },
      'MANIFEST_UNKNOWN',
    );
    const bytes = await readCapped(reply.body, this.deps.maxManifestSize, upstreamTooLarge(member, 'manifest'));
    const expected = reference.includes(':') ? (reference as Digest) : headerDigest(reply.headers['docker-content-digest']);
    const digest = digestBuffer(bytes, expected ? digestAlgorithm(expected) : 'sha256');
    if (expected && digest !== expected) {
      throw new RegistryError('UNAVAILABLE', `upstream "${member.name}" sent a manifest that does not match its digest`, { expected, actual: digest }, 502);
    }
    const parsed = parseManifest(bytes, reply.headers['content-type']);
    if ((await content.size(digest)) !== bytes.length) await content.writeBytes(digest, bytes);
    const record: CachedManifest = { digest, mediaType: parsed.mediaType, size: bytes.length };
    const references = [
      ...parsed.blobs.map((d) => ({ digest: d.digest, kind: 'blob' as const })),
      ...parsed.manifests.map((d) => ({ digest: d.digest, kind: 'manifest' as const })),
    ];
    await index.putManifest(source.name, name.repo, record, references, tag, clock.now());
    logger.info({ upstream: source.name, member: member.name, repository: name.repo, reference, digest }, 'proxy manifest cached');
    return record;
  }

  /** Size of a blob: from the store, or by asking the upstream (HEAD) without fetching it. */
  async blobSize(name: ProxyName, digest: Digest): Promise<number> {
    const source = this.source(name);
    const cached = await this.cachedBlob(source, name.repo, digest);
    if (cached?.inRepository) return cached.size;
    // Not cached, or cached for other repositories only: the upstream answers, as if nothing were cached.
    const size = await this.upstreamBlobSize(source, name, digest);
    if (cached) await this.deps.index.putBlobRepository(source.name, name.repo, digest, this.deps.clock.now());
    return cached?.size ?? size;
  }

  /** Blob downloads in flight in this process of digests not in `except` (warming: the clients' own). */
  downloadsExcept(except: { has(digest: string): boolean }): number {
    return this.deps.fetcher.downloadsExcept(except);
  }

  /** Pins (or unpins) an image by its tag or digest: cache retention never evicts a pinned image. */
  async pin(name: ProxyName, ref: Reference, pinned: boolean): Promise<void> {
    await this.deps.index.setPin(this.source(name).name, name.repo, ref.kind === 'tag' ? ref.tag : ref.digest, pinned, this.deps.clock.now());
  }

  /**
   * The cache's own copy of a manifest, by tag or digest, or undefined: never asks the upstream
   * and records no read (the web UI looking, not a client pulling).
   */
  async cachedManifest(name: ProxyName, ref: Reference): Promise<{ record: CachedManifest; bytes: Buffer } | undefined> {
    const { index, content, maxManifestSize } = this.deps;
    const source = this.source(name);
    const record = ref.kind === 'tag' ? await index.getTag(source.name, name.repo, ref.tag) : await index.getManifest(source.name, name.repo, ref.digest);
    if (record === undefined || (await content.size(record.digest)) !== record.size) return undefined;
    return { record: { digest: record.digest, mediaType: record.mediaType, size: record.size }, bytes: await content.readBytes(record.digest, Math.max(record.size, maxManifestSize)) };
  }

  /** The cached tags of a repository with what each points at and when the upstream last confirmed it; no upstream request. */
  async cachedTags(name: ProxyName): Promise<Array<{ tag: string; digest: Digest; mediaType: string; size: number; checkedAt: number }>> {
    const { index } = this.deps;
    const source = this.source(name);
    const tags = [];
    for (const tag of await index.listTags(source.name, name.repo)) {
      const t = await index.getTag(source.name, name.repo, tag);
      if (t) tags.push({ tag, digest: t.digest, mediaType: t.mediaType, size: t.size, checkedAt: t.checkedAt });
    }
    return tags;
  }

  /** A cached blob's bytes, at most `max`, or undefined when the cache does not hold it for this repository's source. */
  async cachedBlobBytes(name: ProxyName, digest: Digest, max: number): Promise<Buffer | undefined> {
    const cached = await this.cachedBlob(this.source(name), name.repo, digest);
    if (cached === undefined || cached.size > max) return undefined;
    return this.deps.content.readBytes(digest, max);
  }

  /** Whether the store holds the blob for this name's source (a warm dry run: no upstream request). */
  async isCached(name: ProxyName, digest: Digest): Promise<boolean> {
    return (await this.cachedBlob(this.source(name), name.repo, digest)) !== undefined;
  }

  /**
   * The blob from the store, or a download shared with every concurrent request for it.
   * Stored blobs and downloads are shared by all repositories of a source, but a request only
   * gets one for a repository the upstream showed has it; otherwise the upstream is asked
   * first (a HEAD for this repository), and what it answers is what the client gets.
   * `warming`: asked by cache warming, whose own downloads go under its bandwidth cap.
   */
  async blob(name: ProxyName, digest: Digest, { warming = false }: { warming?: boolean } = {}): Promise<ProxiedBlob> {
    const source = this.source(name);
    const { index, clock } = this.deps;
    const cached = await this.cachedBlob(source, name.repo, digest);
    if (cached !== undefined) {
      this.metrics.cacheHit(source.name, 'blob');
      return this.cachedFor(source, name, digest, cached);
    }
    this.metrics.cacheMiss(source.name, 'blob');
    const download = await this.deps.fetcher.fetch(source, name.repo, digest, warming);
    if (download === undefined) {
      // Another replica stored it between the look above and the download's start.
      const stored = await this.cachedBlob(source, name.repo, digest);
      if (stored === undefined) throw new RegistryError('UNAVAILABLE', 'the blob was stored by another replica but cannot be read', { digest });
      return this.cachedFor(source, name, digest, stored);
    }
    if (!download.repositories.has(name.repo)) {
      // Joined a download started for another repository.
      await this.confirmInRepository(source, name, digest);
      download.repositories.add(name.repo);
      // Recorded once stored (the blob row must exist first); failing to record costs a HEAD later, nothing else.
      void download.settled
        .then(() => (download.state === 'done' ? index.putBlobRepository(source.name, name.repo, digest, clock.now()) : undefined))
        .catch((err: unknown) => this.deps.logger.warn({ upstream: source.name, repository: name.repo, digest, error: (err as Error).message }, 'could not record a proxy blob for a repository'));
    }
    if (download.state === 'failed') throw download.error ?? new RegistryError('UNAVAILABLE', 'upstream download failed');
    if (download.state === 'done') return this.storedBlob(digest, download.written);
    const stored = async (dest: Writable): Promise<ProxiedBlob> => {
      await download.stored(dest);
      return this.storedBlob(digest, download.written);
    };
    return {
      size: download.size,
      // Whole reads stream as the download grows; a range is read from the store once verified.
      send: async (dest, range) => (range === undefined ? download.sendTo(dest) : (await stored(dest)).send(dest, range)),
      stored,
    };
  }

  /** A stored blob, once the upstream confirmed `name`'s repository has it (if not known yet). */
  private async cachedFor(source: Source, name: ProxyName, digest: Digest, cached: CachedBlob): Promise<ProxiedBlob> {
    const { index, clock } = this.deps;
    if (!cached.inRepository) {
      await this.confirmInRepository(source, name, digest);
      await index.putBlobRepository(source.name, name.repo, digest, clock.now());
    }
    await index.touchBlob(source.name, digest, clock.now());
    return this.storedBlob(digest, cached.size);
  }

  /** Only called once the repository's right to the blob is established (blob()). */
  private storedBlob(digest: Digest, size: number): ProxiedBlob {
    const { content } = this.deps;
    const blob: ProxiedBlob = {
      size,
      send: (dest, range) => this.sendStored(digest, dest, size, range),
      stored: () => Promise.resolve(blob),
      ...(content.redirectUrl ? { redirectUrl: async () => content.redirectUrl?.(digest) } : {}),
    };
    return blob;
  }

  private sendStored(digest: Digest, dest: Writable, size: number, range: ByteRange | undefined): Promise<void> {
    return sendContent(this.deps.content, digest, dest, size, range, this.deps.integrity ?? ignoreIntegrityFailures);
  }

  /** The stored blob and whether `repo` may see it; a file that does not match its row is reported and is a miss. */
  private async cachedBlob(source: Source, repo: string, digest: Digest): Promise<CachedBlob | undefined> {
    const blob = await this.deps.index.getBlob(source.name, repo, digest);
    if (blob === undefined) return undefined;
    try {
      await this.deps.content.verify(digest, blob.size);
      return blob;
    } catch (err) {
      if (!(err instanceof ContentIntegrityError)) throw err;
      (this.deps.integrity ?? ignoreIntegrityFailures)(err);
      return undefined;
    }
  }
  /**
   * Resolves when the upstream has the blob in this repository (HEAD, with Keel's credentials
   * for it); otherwise throws what a read of an uncached blob would (BLOB_UNKNOWN, DENIED,
   * UNAVAILABLE, ...), so a cached copy makes no difference a client can see.
   */
  private async confirmInRepository(source: Source, name: ProxyName, digest: Digest): Promise<void> {
    await this.confirmations.run(`${source.name}\n${name.repo}\n${digest}`, () => this.upstreamBlobSize(source, name, digest));
  }

  private async upstreamBlobSize(source: Source, name: ProxyName, digest: Digest): Promise<number> {
    const { member, reply } = await this.deps.requester.request(source, { method: 'HEAD', repo: name.repo, suffix: `blobs/${digest}` }, 'BLOB_UNKNOWN');
    reply.body.resume();
    const size = Number(reply.headers['content-length']);
    if (!Number.isSafeInteger(size)) throw new RegistryError('UNAVAILABLE', `upstream "${member.name}" did not give the blob's size`, { digest }, 502);
    return size;
  }

  /** The upstream's tag list under the proxied name; the cached tags when the upstream is unavailable (unless told not to). */
  async tags(name: ProxyName, query: string, options: { cachedWhenUnavailable?: boolean } = {}): Promise<{ tags: string[]; link: string | undefined }> {
    const source = this.source(name);
    try {
      const { member, reply } = await this.deps.requester.request(source, { method: 'GET', repo: name.repo, suffix: `tags/list${query}` }, 'NAME_UNKNOWN');
      const memberRepo = memberRepository(source, member, name.repo);
      const body = JSON.parse((await readCapped(reply.body, MAX_TAG_LIST, upstreamTooLarge(member, 'tag list'))).toString('utf8')) as { tags?: unknown };
      // Sorted here: the spec wants lexical order, and Distribution 2.8 does not sort unpaginated lists.
      const tags = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string').sort() : [];
      const link = reply.headers.link;
      return { tags, link: typeof link === 'string' ? link.replace(`/v2/${memberRepo}/`, `/v2/${name.full}/`) : undefined };
    } catch (err) {
      // A sync must not take the cached list for the upstream's: it fails and backs off instead.
      if (!isUnavailable(err) || options.cachedWhenUnavailable === false) throw err;
      this.deps.logger.warn({ upstream: source.name, repository: name.repo, error: (err as Error).message }, 'upstream unavailable: listing cached tags');
      return { tags: await this.deps.index.listTags(source.name, name.repo), link: undefined };
    }
  }

  /**
   * One page of the upstream's repository list (`GET /v2/_catalog<query>`), for [[proxy.sync]]
   * globs; never from the cache. One upstream only: a group's members are separate registries,
   * each listed on its own (sync-scheduler.ts takes the union). An upstream that refuses the catalog or has none
   * (Docker Hub answers 401; many registries 401, 403 or 404) is UNSUPPORTED with a message
   * saying to name the repositories literally; a 429, 5xx or timeout stays what it is.
   */
  async catalog(upstream: string, query: string): Promise<{ repositories: string[]; link: string | undefined }> {
    const source = this.deps.sources.resolve(upstream);
    if (source.members.length !== 1) throw new RegistryError('UNSUPPORTED', `"${source.name}" is a group: list each of its members' catalogs (members())`, { upstream: source.name });
    const noCatalog = (answer: string): RegistryError =>
      new RegistryError('UNSUPPORTED', `the upstream "${source.name}" does not list its repositories (_catalog ${answer}); name them literally`, { upstream: source.name });
    let reply: SourceReply;
    try {
      reply = await this.deps.requester.catalog(source, query);
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      // NAME_UNKNOWN is what every member answering 404 becomes (source-requester.ts).
      const status = err.code === 'NAME_UNKNOWN' ? 404 : (err.detail as { status?: unknown } | undefined)?.status;
      if (typeof status === 'number' && status >= 400 && status < 500 && status !== 429) throw noCatalog(`answered HTTP ${status}`);
      throw err;
    }
    const text = (await readCapped(reply.reply.body, MAX_TAG_LIST, upstreamTooLarge(reply.member, 'repository list'))).toString('utf8');
    let body: { repositories?: unknown };
    try {
      body = JSON.parse(text) as { repositories?: unknown };
    } catch {
      throw noCatalog('answered without a repository list');
    }
    if (typeof body !== 'object' || body === null || !Array.isArray(body.repositories)) throw noCatalog('answered without a repository list');
    const link = reply.reply.headers.link;
    // A name that is not a repository name could not be asked for; a broken upstream's list is not trusted with it.
    return { repositories: body.repositories.filter((r): r is string => typeof r === 'string' && isRepoName(r)), link: typeof link === 'string' ? link : undefined };
  }

  /** The upstreams an upstream, group or alias name stands for, in the order they are tried. */
  members(upstream: string): string[] {
    return this.deps.sources.resolve(upstream).members.map((m) => m.name);
  }

  /** The upstream's referrers of a digest; an empty list where the upstream has no referrers API. */
  async referrers(name: ProxyName, digest: Digest, artifactType: string | undefined): Promise<Buffer | undefined> {
    const source = this.source(name);
    const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
    try {
      const { member, reply } = await this.deps.requester.request(source, { method: 'GET', repo: name.repo, suffix: `referrers/${digest}${query}` }, 'NAME_UNKNOWN');
      return await readCapped(reply.body, this.deps.maxManifestSize, upstreamTooLarge(member, 'referrers index'));
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'NAME_UNKNOWN') return undefined;
      throw err;
    }
  }
}

function headerDigest(value: string | string[] | undefined): Digest | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return parseDigest(value);
  } catch {
    return undefined;
  }
}
