/**
 * Single-flight fetch-and-store of upstream blobs. The first request for a missing blob
 * starts one download; every concurrent request for the same upstream and digest joins it
 * and reads bytes as they arrive. The download does not belong to any client: a client
 * that disconnects leaves it running for the others. Bytes are hashed while they stream
 * and the blob only enters the proxy store when digest and length match; a failed,
 * truncated or lying upstream leaves nothing behind, and the next request tries again.
 * The download is for one repository; a request for another repository that joins it must
 * first have the upstream confirm the blob is there too (pull-through.ts).
 */
import { createHash } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { Clock } from '../shared/clock.js';
import { RegistryError } from '../shared/errors.js';
import { digestAlgorithm, type Digest } from '../shared/types.js';
import type { ContentStore } from '../storage/content-store.js';
import { FileAppender } from '../storage/file-appender.js';
import { TooLargeError } from '../storage/storage-errors.js';
import type { ProxyIndex } from '../storage/proxy-index.js';
import { BlobDownload } from './blob-download.js';
import { noProxyMetrics, type ProxyMetrics } from './proxy-metrics.js';
import { SingleFlight } from './single-flight.js';
import type { SourceRequester } from './source-requester.js';
import type { Source } from './sources.js';

export class BlobFetcher {
  /** Keyed by source and digest; a download leaves it when it is stored or has failed. */
  readonly flights: SingleFlight<BlobDownload>;

  constructor(
    private readonly requester: SourceRequester,
    private readonly content: ContentStore,
    private readonly index: ProxyIndex,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly metrics: ProxyMetrics = noProxyMetrics,
  ) {
    this.flights = new SingleFlight<BlobDownload>(() => metrics.joined('blob'));
  }

  /** Starts or joins the download; resolves when the upstream has answered with the blob. */
  fetch(source: Source, repo: string, digest: Digest): Promise<BlobDownload> {
    // The flight lasts until the download is stored or failed, not only until it started.
    return this.flights.run(`${source.name}\n${digest}`, () => this.start(source, repo, digest), (download) => download.settled);
  }

  private async start(source: Source, repo: string, digest: Digest): Promise<BlobDownload> {
    const { member, reply } = await this.requester.request(source, { method: 'GET', repo, suffix: `blobs/${digest}` }, 'BLOB_UNKNOWN');
    const length = Number(reply.headers['content-length']);
    const temp = await this.content.tempPath();
    const handle = await open(temp, 'w+');
    const download = new BlobDownload(handle, Number.isSafeInteger(length) ? length : undefined);
    download.repositories.add(repo);
    void this.write(source, member.name, digest, reply.body, download, temp).finally(() => download.release());
    return download;
  }

  private async write(source: Source, member: string, digest: Digest, body: Readable, download: BlobDownload, temp: string): Promise<void> {
    const hash = createHash(digestAlgorithm(digest));
    try {
      // Chunks that arrive while a write is under way go to the file together (one writev).
      const sink = new FileAppender(download.handle, 0, {
        hash,
        limit: download.size ?? Infinity,
        written: (total) => {
          this.metrics.upstreamBytes(source.name, member, total - download.written);
          download.grewTo(total);
        },
      });
      try {
        await pipeline(body, sink);
      } catch (err) {
        if (err instanceof TooLargeError) throw new Error(`upstream sent more than the ${err.limit} bytes it announced`);
        throw err;
      }
      if (download.size !== undefined && download.written !== download.size) {
        throw new Error(`upstream sent ${download.written} of ${download.size} bytes`);
      }
      const actual = `${digestAlgorithm(digest)}:${hash.digest('hex')}`;
      if (actual !== digest) throw new Error(`upstream content has digest ${actual}`);
      await this.content.commitFile(temp, digest);
      await this.index.putBlob(source.name, digest, download.written, download.repositories, this.clock.now());
      download.succeeded();
      this.logger.info({ upstream: source.name, member, digest, bytes: download.written }, 'proxy blob cached');
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      const message = (err as Error).message;
      this.logger.warn({ upstream: source.name, member, digest, bytes: download.written, error: message }, 'proxy blob download failed; nothing cached');
      download.failed(new RegistryError('UNAVAILABLE', `download from upstream "${member}" failed: ${message}`, { digest }));
    }
  }
}
