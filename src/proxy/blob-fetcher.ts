/**
 * Single-flight fetch-and-store of upstream blobs. The first request for a missing blob
 * starts one download; every concurrent request for the same upstream and digest joins it
 * and reads bytes as they arrive. The download does not belong to any client: a client
 * that disconnects leaves it running for the others. Bytes are hashed while they stream
 * and the blob only enters the proxy store when digest and length match; a failed,
 * truncated or lying upstream leaves nothing behind, and the next request tries again.
 */
import { createHash } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Clock } from '../registry/clock.js';
import { RegistryError } from '../registry/errors.js';
import { digestAlgorithm, type Digest } from '../registry/types.js';
import type { ContentStore } from '../storage/content-store.js';
import type { ProxyIndex } from '../storage/proxy-index.js';
import { BlobDownload } from './blob-download.js';
import type { UpstreamClient } from './upstream-client.js';
import { statusFailure } from './upstream-errors.js';
import type { Upstream } from './upstreams.js';

export class BlobFetcher {
  private readonly inflight = new Map<string, Promise<BlobDownload>>();
  /** Downloads started from the upstream, for tests and metrics. */
  started = 0;
  joined = 0;

  constructor(
    private readonly client: UpstreamClient,
    private readonly content: ContentStore,
    private readonly index: ProxyIndex,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Starts or joins the download; resolves when the upstream has answered with the blob. */
  fetch(upstream: Upstream, repo: string, digest: Digest): Promise<BlobDownload> {
    const key = `${upstream.name}\n${digest}`;
    const running = this.inflight.get(key);
    if (running) {
      this.joined++;
      return running;
    }
    this.started++;
    const started = this.start(upstream, repo, digest, () => this.inflight.delete(key));
    this.inflight.set(key, started);
    started.catch(() => this.inflight.delete(key));
    return started;
  }

  private async start(upstream: Upstream, repo: string, digest: Digest, finished: () => void): Promise<BlobDownload> {
    const reply = await this.client.request(upstream, { method: 'GET', repo, path: `/v2/${repo}/blobs/${digest}` });
    if (reply.status !== 200) {
      reply.body.resume();
      throw statusFailure(upstream, reply.status, 'BLOB_UNKNOWN');
    }
    const length = Number(reply.headers['content-length']);
    const temp = await this.content.tempPath();
    const handle = await open(temp, 'w+');
    const download = new BlobDownload(handle, Number.isSafeInteger(length) ? length : undefined);
    void this.write(upstream, digest, reply.body, download, temp).finally(() => {
      finished();
      download.release();
    });
    return download;
  }

  private async write(upstream: Upstream, digest: Digest, body: Readable, download: BlobDownload, temp: string): Promise<void> {
    const hash = createHash(digestAlgorithm(digest));
    try {
      for await (const chunk of body) {
        const buf = chunk as Buffer;
        if (download.size !== undefined && download.written + buf.length > download.size) {
          throw new Error(`upstream sent more than the ${download.size} bytes it announced`);
        }
        hash.update(buf);
        await download.handle.write(buf, 0, buf.length, download.written);
        download.progressed(buf.length);
      }
      if (download.size !== undefined && download.written !== download.size) {
        throw new Error(`upstream sent ${download.written} of ${download.size} bytes`);
      }
      const actual = `${digestAlgorithm(digest)}:${hash.digest('hex')}`;
      if (actual !== digest) throw new Error(`upstream content has digest ${actual}`);
      await this.content.commitFile(temp, digest);
      await this.index.putBlob(upstream.name, digest, download.written, this.clock.now());
      download.succeeded();
      this.logger.info({ upstream: upstream.name, digest, bytes: download.written }, 'proxy blob cached');
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      const message = (err as Error).message;
      this.logger.warn({ upstream: upstream.name, digest, bytes: download.written, error: message }, 'proxy blob download failed; nothing cached');
      download.failed(new RegistryError('UNAVAILABLE', `download from upstream "${upstream.name}" failed: ${message}`, { digest }));
    }
  }
}
