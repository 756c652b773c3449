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
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Clock } from '../primitives/clock.js';
import { RegistryError } from '../primitives/errors.js';
import type { Digest } from '../primitives/types.js';
import type { BlobStore, BlobWriter } from '../storage/blob-store.js';
import { BlobDigestMismatchError, TooLargeError } from '../storage/storage-errors.js';
import type { ProxyIndex } from '../storage/proxy-index.js';
import { BlobDownload } from './blob-download.js';
import { spoolFor, type DownloadSpool } from './download-spool.js';
import { noProxyMetrics, type ProxyMetrics } from './proxy-metrics.js';
import { SingleFlight } from './single-flight.js';
import type { SourceRequester } from './source-requester.js';
import type { Source } from './sources.js';

export class BlobFetcher {
  /** Keyed by source and digest; a download leaves it when it is stored or has failed. */
  readonly flights: SingleFlight<BlobDownload>;

  constructor(
    private readonly requester: SourceRequester,
    private readonly content: BlobStore,
    private readonly index: ProxyIndex,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Where a download keeps its own spool when the store's writer cannot read back (download-spool.ts). */
    private readonly spoolDir: string,
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
    let writer: BlobWriter | undefined;
    let spool: DownloadSpool;
    try {
      writer = await this.content.writer();
      spool = await spoolFor(writer, this.spoolDir);
    } catch (err) {
      reply.body.destroy();
      await writer?.cancel().catch(() => undefined);
      throw err;
    }
    const download: BlobDownload = new BlobDownload(spool, Number.isSafeInteger(length) ? length : undefined, (dest, start, end) =>
      this.content.send(digest, dest, download.written, { start, end }),
    );
    download.repositories.add(repo);
    void this.write(source, member.name, digest, reply.body, download, writer, spool);
    return download;
  }

  private async write(source: Source, member: string, digest: Digest, body: Readable, download: BlobDownload, writer: BlobWriter, spool: DownloadSpool): Promise<void> {
    let counted = 0;
    const grew = (total: number): void => {
      this.metrics.upstreamBytes(source.name, member, total - counted);
      counted = total;
      download.grewTo(total);
    };
    try {
      try {
        // Readers follow the spool: the writer itself, or a file the bytes pass through first.
        await writer.write(spool.source(body, grew), { limit: download.size ?? Infinity, ...(spool.followsWriter ? { landed: grew } : {}) });
      } catch (err) {
        if (err instanceof TooLargeError) throw new Error(`upstream sent more than the ${err.limit} bytes it announced`);
        throw err;
      }
      if (download.size !== undefined && writer.size !== download.size) {
        throw new Error(`upstream sent ${writer.size} of ${download.size} bytes`);
      }
      await download.seal();
      try {
        await writer.commit(digest);
      } catch (err) {
        if (err instanceof BlobDigestMismatchError) throw new Error(`upstream content has digest ${err.actual}`);
        throw err;
      }
      await this.index.putBlob(source.name, digest, writer.size, download.repositories, this.clock.now());
      await spool.close();
      download.succeeded();
      this.logger.info({ upstream: source.name, member, digest, bytes: writer.size }, 'proxy blob cached');
    } catch (err) {
      await download.seal();
      await writer.cancel().catch(() => undefined);
      await spool.close().catch(() => undefined);
      const message = (err as Error).message;
      this.logger.warn({ upstream: source.name, member, digest, bytes: download.written, error: message }, 'proxy blob download failed; nothing cached');
      download.failed(new RegistryError('UNAVAILABLE', `download from upstream "${member}" failed: ${message}`, { digest }));
    }
  }
}
