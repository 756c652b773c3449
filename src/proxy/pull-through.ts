/**
 * The pull-through cache: reads under `proxy/<upstream>/...` served from the proxy store,
 * filled from the upstream on a miss.
 *
 * - Manifests by digest come from the store without asking the upstream.
 * - Manifests by tag come from the store while the tag is younger than its TTL; after that
 *   a HEAD revalidates it (not counted by Docker Hub's pull limit) and a GET only follows
 *   when the digest changed. If the upstream is down, slow or limiting (5xx, 429, timeout),
 *   the last cached manifest is served and a warning logged.
 * - Blobs stream to the client while they download (blob-fetcher.ts).
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Clock } from '../registry/clock.js';
import { digestBuffer } from '../registry/digest.js';
import { RegistryError } from '../registry/errors.js';
import { parseManifest } from '../registry/manifest-parser.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../registry/media-types.js';
import { readCapped } from '../registry/read-capped.js';
import { digestAlgorithm, parseDigest, type Digest, type Reference } from '../registry/types.js';
import type { ByteRange, ContentStore } from '../storage/content-store.js';
import type { CachedManifest, ProxyIndex } from '../storage/proxy-index.js';
import type { BlobFetcher } from './blob-fetcher.js';
import type { ProxyName } from './proxy-name.js';
import type { UpstreamClient } from './upstream-client.js';
import { isUnavailable, statusFailure } from './upstream-errors.js';
import type { Upstream, Upstreams } from './upstreams.js';

const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(', ');
/** Tag lists are passed through whole; more than this from an upstream is refused. */
const MAX_TAG_LIST = 16 * 1024 * 1024;

export interface ProxiedBlob {
  size: number | undefined;
  open(range?: ByteRange): Readable;
}

export interface PullThroughDeps {
  upstreams: Upstreams;
  client: UpstreamClient;
  fetcher: BlobFetcher;
  index: ProxyIndex;
  content: ContentStore;
  clock: Clock;
  logger: Logger;
  maxManifestSize: number;
}

export class PullThrough {
  constructor(private readonly deps: PullThroughDeps) {}

  upstream(name: ProxyName): Upstream {
    return this.deps.upstreams.resolve(name.upstream);
  }

  async manifest(name: ProxyName, ref: Reference): Promise<{ record: CachedManifest; bytes: Buffer }> {
    const upstream = this.upstream(name);
    const record = ref.kind === 'digest' ? await this.manifestByDigest(upstream, name, ref.digest) : await this.manifestByTag(upstream, name, ref.tag);
    const bytes = await this.deps.content.readBytes(record.digest, Math.max(record.size, this.deps.maxManifestSize));
    return { record, bytes };
  }

  private async manifestByDigest(upstream: Upstream, name: ProxyName, digest: Digest): Promise<CachedManifest> {
    const { index, content, clock } = this.deps;
    const cached = await index.getManifest(upstream.name, name.repo, digest);
    if (cached && (await content.size(digest)) === cached.size) {
      await index.touchManifest(upstream.name, name.repo, digest, clock.now());
      return cached;
    }
    return this.fetchManifest(upstream, name, digest, undefined);
  }

  private async manifestByTag(upstream: Upstream, name: ProxyName, tag: string): Promise<CachedManifest> {
    const { index, content, clock, logger } = this.deps;
    const cached = await index.getTag(upstream.name, name.repo, tag);
    const usable = cached && (await content.size(cached.digest)) === cached.size ? cached : undefined;
    if (usable && clock.now() - usable.checkedAt < upstream.tagTtlMs) {
      await index.touchTag(upstream.name, name.repo, tag, clock.now());
      return usable;
    }
    try {
      if (usable) {
        const current = await this.headDigest(upstream, name, tag);
        if (current === usable.digest) {
          await index.confirmTag(upstream.name, name.repo, tag, clock.now());
          return usable;
        }
        return await this.fetchManifest(upstream, name, current ?? tag, tag);
      }
      return await this.fetchManifest(upstream, name, tag, tag);
    } catch (err) {
      if (usable && isUnavailable(err)) {
        logger.warn({ upstream: upstream.name, repository: name.repo, tag, error: (err as Error).message }, 'upstream unavailable: serving the cached manifest');
        return usable;
      }
      if (err instanceof RegistryError && err.code === 'MANIFEST_UNKNOWN' && cached) await index.deleteTag(upstream.name, name.repo, tag);
      throw err;
    }
  }

  /** The digest the upstream's tag points at now, from a HEAD; undefined if it does not say. */
  private async headDigest(upstream: Upstream, name: ProxyName, tag: string): Promise<Digest | undefined> {
    const reply = await this.deps.client.request(upstream, {
      method: 'HEAD',
      repo: name.repo,
      path: `/v2/${name.repo}/manifests/${tag}`,
      headers: { accept: MANIFEST_ACCEPT },
    });
    reply.body.resume();
    if (reply.status !== 200) throw statusFailure(upstream, reply.status, 'MANIFEST_UNKNOWN');
    const header = reply.headers['docker-content-digest'];
    try {
      return typeof header === 'string' ? parseDigest(header) : undefined;
    } catch {
      return undefined;
    }
  }

  /** GETs a manifest by tag or digest, verifies it, stores it, records it (and the tag). */
  private async fetchManifest(upstream: Upstream, name: ProxyName, reference: string, tag: string | undefined): Promise<CachedManifest> {
    const { client, content, index, clock, logger } = this.deps;
    const reply = await client.request(upstream, {
      method: 'GET',
      repo: name.repo,
      path: `/v2/${name.repo}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (reply.status !== 200) {
      reply.body.resume();
      throw statusFailure(upstream, reply.status, 'MANIFEST_UNKNOWN');
    }
    const bytes = await readCapped(reply.body, this.deps.maxManifestSize);
    const expected = reference.includes(':') ? (reference as Digest) : headerDigest(reply.headers['docker-content-digest']);
    const digest = digestBuffer(bytes, expected ? digestAlgorithm(expected) : 'sha256');
    if (expected && digest !== expected) {
      throw new RegistryError('UNAVAILABLE', `upstream "${upstream.name}" sent a manifest that does not match its digest`, { expected, actual: digest }, 502);
    }
    const parsed = parseManifest(bytes, reply.headers['content-type']);
    if ((await content.size(digest)) !== bytes.length) await content.writeBytes(digest, bytes);
    const record: CachedManifest = { digest, mediaType: parsed.mediaType, size: bytes.length };
    const references = [
      ...parsed.blobs.map((d) => ({ digest: d.digest, kind: 'blob' as const })),
      ...parsed.manifests.map((d) => ({ digest: d.digest, kind: 'manifest' as const })),
    ];
    await index.putManifest(upstream.name, name.repo, record, references, tag, clock.now());
    logger.info({ upstream: upstream.name, repository: name.repo, reference, digest }, 'proxy manifest cached');
    return record;
  }

  /** Size of a blob: from the store, or by asking the upstream (HEAD) without fetching it. */
  async blobSize(name: ProxyName, digest: Digest): Promise<number> {
    const upstream = this.upstream(name);
    const cached = await this.cachedBlobSize(upstream, digest);
    if (cached !== undefined) return cached;
    const reply = await this.deps.client.request(upstream, { method: 'HEAD', repo: name.repo, path: `/v2/${name.repo}/blobs/${digest}` });
    reply.body.resume();
    if (reply.status !== 200) throw statusFailure(upstream, reply.status, 'BLOB_UNKNOWN');
    const size = Number(reply.headers['content-length']);
    if (!Number.isSafeInteger(size)) throw new RegistryError('UNAVAILABLE', `upstream "${upstream.name}" did not give the blob's size`, { digest }, 502);
    return size;
  }

  /** The blob from the store, or a download shared with every concurrent request for it. */
  async blob(name: ProxyName, digest: Digest): Promise<ProxiedBlob> {
    const upstream = this.upstream(name);
    const cached = await this.cachedBlobSize(upstream, digest);
    if (cached !== undefined) {
      await this.deps.index.touchBlob(upstream.name, digest, this.deps.clock.now());
      return { size: cached, open: (range) => this.deps.content.read(digest, range) };
    }
    const download = await this.deps.fetcher.fetch(upstream, name.repo, digest);
    if (download.state === 'failed') throw download.error ?? new RegistryError('UNAVAILABLE', 'upstream download failed');
    if (download.state === 'done') return { size: download.written, open: (range) => this.deps.content.read(digest, range) };
    return { size: download.size, open: (range) => download.reader(range) };
  }

  private async cachedBlobSize(upstream: Upstream, digest: Digest): Promise<number | undefined> {
    const size = await this.deps.index.getBlob(upstream.name, digest);
    if (size === undefined) return undefined;
    return (await this.deps.content.size(digest)) === size ? size : undefined;
  }

  /** The upstream's tag list under the proxied name; the cached tags when the upstream is unavailable. */
  async tags(name: ProxyName, query: string): Promise<{ tags: string[]; link: string | undefined }> {
    const upstream = this.upstream(name);
    try {
      const reply = await this.deps.client.request(upstream, { method: 'GET', repo: name.repo, path: `/v2/${name.repo}/tags/list${query}` });
      if (reply.status !== 200) {
        reply.body.resume();
        throw statusFailure(upstream, reply.status, 'NAME_UNKNOWN');
      }
      const body = JSON.parse((await readCapped(reply.body, MAX_TAG_LIST)).toString('utf8')) as { tags?: unknown };
      // Sorted here: the spec wants lexical order, and Distribution 2.8 does not sort unpaginated lists.
      const tags = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string').sort() : [];
      const link = reply.headers.link;
      return { tags, link: typeof link === 'string' ? link.replace(`/v2/${name.repo}/`, `/v2/${name.full}/`) : undefined };
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      this.deps.logger.warn({ upstream: upstream.name, repository: name.repo, error: (err as Error).message }, 'upstream unavailable: listing cached tags');
      return { tags: await this.deps.index.listTags(upstream.name, name.repo), link: undefined };
    }
  }

  /** The upstream's referrers of a digest; an empty list where the upstream has no referrers API. */
  async referrers(name: ProxyName, digest: Digest, artifactType: string | undefined): Promise<Buffer | undefined> {
    const upstream = this.upstream(name);
    const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
    const reply = await this.deps.client.request(upstream, { method: 'GET', repo: name.repo, path: `/v2/${name.repo}/referrers/${digest}${query}` });
    if (reply.status === 404) {
      reply.body.resume();
      return undefined;
    }
    if (reply.status !== 200) {
      reply.body.resume();
      throw statusFailure(upstream, reply.status, 'NAME_UNKNOWN');
    }
    return readCapped(reply.body, this.deps.maxManifestSize);
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
