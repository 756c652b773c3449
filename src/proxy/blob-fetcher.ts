/**
 * Single-flight fetch-and-store of upstream blobs. The first request for a missing blob
 * starts one download; every concurrent request for the same upstream and digest joins it
 * and reads bytes as they arrive. The download does not belong to any client: a client
 * that disconnects leaves it running for the others. Bytes are hashed while they stream
 * and the blob only enters the proxy store when digest and length match; a failed,
 * truncated or lying upstream leaves nothing behind, and the next request tries again.
 * The download is for one repository; a request for another repository that joins it must
 * first have the upstream confirm the blob is there too (pull-through.ts).
 *
 * Across replicas sharing one index, a lease (lease-keeper.ts) names the one process that
 * downloads from the upstream; the others follow its download over the peer path
 * (peer-relay.ts), storing and verifying what they relay like a download of their own.
 */
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Clock } from '../primitives/clock.js';
import { noHeapHeadroom, type HeapHeadroom } from '../primitives/heap-headroom.js';
import { RegistryError } from '../primitives/errors.js';
import type { Digest } from '../primitives/types.js';
import type { BlobStore, BlobWriter } from '../storage/blob-store.js';
import { BlobDigestMismatchError, TooLargeError } from '../storage/storage-errors.js';
import type { ProxyIndex } from '../storage/proxy-index.js';
import { BlobDownload } from './blob-download.js';
import { claimLease, type LeaseKeeper } from './lease-keeper.js';
import { PeerRelay, type RelayDeps, type RelayPart } from './peer-relay.js';
import { spoolFor, type DownloadSpool } from './download-spool.js';
import type { WarmPace } from './warm-pace.js';
import { noProxyMetrics, type ProxyMetrics } from './proxy-metrics.js';
import { SingleFlight } from './single-flight.js';
import type { SourceRequester } from './source-requester.js';
import type { Source } from './sources.js';

export class BlobFetcher {
  /**
   * Keyed by source and digest; a download leaves it when it is stored, or as soon as it is
   * known to have failed (before any reader hears of it), so a client retrying after its
   * error starts a new download instead of joining the failed one.
   */
  readonly flights: SingleFlight<BlobDownload | undefined>;
  /** Of the flights warming started, whether a client's request has joined since (it then goes at full speed). */
  private readonly joinedLive = new Map<string, { live: boolean }>();

  constructor(
    private readonly requester: SourceRequester,
    private readonly content: BlobStore,
    private readonly index: ProxyIndex,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Where a download keeps its own spool when the store's writer cannot read back (download-spool.ts). */
    private readonly spoolDir: string,
    private readonly metrics: ProxyMetrics = noProxyMetrics,
    /** Leases and the peer path, shared by the replicas on one index; without it, one process alone. */
    private readonly cluster?: RelayDeps,
    /** How fast downloads warming started read the upstream (warm-pace.ts); none: unpaced. */
    private readonly warmPace?: WarmPace,
    /** Raised while a download writes (heap-headroom.ts): its buffers cost many full GCs otherwise. */
    private readonly heap: HeapHeadroom = noHeapHeadroom,
  ) {
    this.flights = new SingleFlight<BlobDownload | undefined>(() => metrics.joined('blob'));
  }

  /**
   * Starts or joins the download; resolves when the upstream (or the replica holding it) has
   * answered with the blob. Undefined when it turned out to be stored meanwhile (by another
   * replica): read it from the store.
   */
  fetch(source: Source, repo: string, digest: Digest, warming = false): Promise<BlobDownload | undefined> {
    // The flight lasts until the download is stored or failed, not only until it started.
    const key = flightKey(source.name, digest);
    const joined = this.joinedLive.get(key);
    if (joined !== undefined && !warming) joined.live = true;
    const pace = warming && this.flights.current(key) === undefined ? { live: false } : undefined;
    const flight: Promise<BlobDownload | undefined> = this.flights.run(
      key,
      () => this.start(source, repo, digest, () => this.flights.leave(key, flight), pace),
      (download) => download?.settled ?? Promise.resolve(),
    );
    if (pace !== undefined) {
      this.joinedLive.set(key, pace);
      const forget = (): void => {
        if (this.joinedLive.get(key) === pace) this.joinedLive.delete(key);
      };
      flight.then((download) => download?.settled).then(forget, forget);
    }
    return flight;
  }

  /** Downloads in flight in this process that are clients': not started by warming, or joined by a client since. */
  liveDownloads(): number {
    let n = 0;
    for (const key of this.flights.keys()) if (this.joinedLive.get(key)?.live !== false) n++;
    return n;
  }

  /** Blob downloads in flight in this process (starting or running) of digests not in `except`. */
  downloadsExcept(except: { has(digest: string): boolean }): number {
    let n = 0;
    for (const key of this.flights.keys()) if (!except.has(key.slice(key.indexOf('\n') + 1))) n++;
    return n;
  }

  /** The download of this blob in flight in this process (starting or running), for the peer path. */
  inFlight(upstream: string, digest: Digest): Promise<BlobDownload | undefined> | undefined {
    return this.flights.current(flightKey(upstream, digest));
  }

  /** `leave` ends this download's flight (it has failed). */
  private async start(source: Source, repo: string, digest: Digest, leave: () => void, pace?: { live: boolean }): Promise<BlobDownload | undefined> {
    if (!this.cluster) return this.fromUpstream(source, repo, digest, undefined, leave, pace);
    const key = `${source.name}/${digest}`;
    const claim = await claimLease(this.cluster.lease, key);
    if (!claim.won) return this.fromPeer(source, repo, digest, key, this.cluster, leave);
    try {
      // A holder that just finished has stored it and released the lease this replica now won.
      if ((await this.storedSize(source, repo, digest)) !== undefined) {
        await claim.keeper.release();
        return undefined;
      }
      return await this.fromUpstream(source, repo, digest, claim.keeper, leave, pace);
    } catch (err) {
      await claim.keeper.release();
      throw err;
    }
  }

  /** The blob's size when it is in the proxy index and its file is whole. */
  private async storedSize(source: Source, repo: string, digest: Digest): Promise<number | undefined> {
    const row = await this.index.getBlob(source.name, repo, digest);
    return row !== undefined && (await this.content.size(digest)) === row.size ? row.size : undefined;
  }

  /** Follows the replica holding the lease; it has the upstream's bytes, this one stores and verifies them too. */
  private async fromPeer(source: Source, repo: string, digest: Digest, key: string, cluster: RelayDeps, leave: () => void): Promise<BlobDownload | undefined> {
    const relay = new PeerRelay(cluster, key, source.name, digest, {
      stored: async (from) => {
        const size = await this.storedSize(source, repo, digest);
        if (size === undefined) return undefined;
        const body = from < size ? await this.content.reader(digest, { start: from, end: size - 1 }) : Readable.from([]);
        return { size, body, destroy: () => body.destroy() };
      },
      upstream: async (): Promise<RelayPart> => {
        const { reply } = await this.requester.request(source, { method: 'GET', repo, suffix: `blobs/${digest}` }, 'BLOB_UNKNOWN');
        const length = Number(reply.headers['content-length']);
        return { size: Number.isSafeInteger(length) ? length : undefined, body: reply.body, destroy: () => reply.body.destroy() };
      },
    });
    let opened;
    try {
      opened = await relay.open();
    } catch (err) {
      await relay.keeper?.release();
      throw err;
    }
    if (opened === undefined) return undefined;
    try {
      // The lease is this replica's only if it took the download over on the way. The relay
      // verified the bytes; stored by the holder already, they need not be stored again.
      const storedElsewhere = async (): Promise<boolean> => (await this.storedSize(source, repo, digest)) !== undefined;
      return await this.begin(source, undefined, digest, opened.size, Readable.from(opened.body), () => relay.keeper, leave, storedElsewhere);
    } catch (err) {
      await relay.keeper?.release();
      throw err;
    }
  }

  /** `pace`: a download warming started, read at warming's pace (warm-pace.ts) until a client joins it. */
  private async fromUpstream(source: Source, repo: string, digest: Digest, keeper: LeaseKeeper | undefined, leave: () => void, pace?: { live: boolean }): Promise<BlobDownload> {
    const { member, reply } = await this.requester.request(source, { method: 'GET', repo, suffix: `blobs/${digest}` }, 'BLOB_UNKNOWN');
    const length = Number(reply.headers['content-length']);
    const body = pace !== undefined && this.warmPace !== undefined ? this.warmPace.throttle(reply.body, { live: () => pace.live, yielding: () => this.liveDownloads() > 0 }) : reply.body;
    const download = await this.begin(source, member.name, digest, Number.isSafeInteger(length) ? length : undefined, body, () => keeper, leave);
    download.repositories.add(repo);
    return download;
  }

  /**
   * Starts writing `body` to the store as a download readers follow. `member` is the upstream
   * member it comes from (undefined: relayed from a peer). The lease `keeper()` names, if any,
   * is given up once the download is stored (so a replica claiming it next finds the blob) or
   * failed, always before this process's flight ends (`leave`, or the flight's hold on
   * `settled`): a new download here claims the lease anew, and a late release would drop it.
   */
  private async begin(
    source: Source,
    member: string | undefined,
    digest: Digest,
    size: number | undefined,
    body: Readable,
    keeper: () => LeaseKeeper | undefined,
    leave: () => void,
    storedElsewhere: () => Promise<boolean> = () => Promise.resolve(false),
  ): Promise<BlobDownload> {
    let writer: BlobWriter | undefined;
    let spool: DownloadSpool;
    try {
      writer = await this.content.writer();
      spool = await spoolFor(writer, this.spoolDir);
    } catch (err) {
      body.destroy();
      await writer?.cancel().catch(() => undefined);
      throw err;
    }
    const download: BlobDownload = new BlobDownload(spool, size, (dest, start, end) => this.content.send(digest, dest, download.written, { start, end }));
    const ended = { release: async () => keeper()?.release(), leave };
    void this.write(source, member, digest, body, download, writer, spool, storedElsewhere, ended);
    return download;
  }

  private async write(
    source: Source,
    member: string | undefined,
    digest: Digest,
    body: Readable,
    download: BlobDownload,
    writer: BlobWriter,
    spool: DownloadSpool,
    storedElsewhere: () => Promise<boolean>,
    ended: { release: () => Promise<void>; leave: () => void },
  ): Promise<void> {
    const releaseHeap = this.heap.hold();
    let counted = 0;
    const from = member ?? 'a peer replica';
    const grew = (total: number, chunks?: readonly Buffer[]): void => {
      if (member !== undefined) this.metrics.upstreamBytes(source.name, member, total - counted);
      counted = total;
      download.grewTo(total, chunks);
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
        // Readers read what they still lack from the store, whoever's copy it is.
        if (await storedElsewhere()) await writer.cancel();
        else await writer.commit(digest);
      } catch (err) {
        if (err instanceof BlobDigestMismatchError) throw new Error(`upstream content has digest ${err.actual}`);
        throw err;
      }
      await this.index.putBlob(source.name, digest, writer.size, download.repositories, this.clock.now());
      await spool.close();
      await ended.release();
      download.succeeded();
      this.logger.info({ upstream: source.name, member: from, digest, bytes: writer.size }, 'proxy blob cached');
    } catch (err) {
      await download.seal();
      // Known failed: the lease goes first, then the flight, and only then (below) do readers
      // hear of it. A client retrying after its error therefore starts a new download (one
      // upstream fetch still: this one's body is dead) and claims a lease nobody releases
      // under it.
      await ended.release();
      ended.leave();
      await writer.cancel().catch(() => undefined);
      await spool.close().catch(() => undefined);
      const message = (err as Error).message;
      this.logger.warn({ upstream: source.name, member: from, digest, bytes: download.written, error: message }, 'proxy blob download failed; nothing cached');
      download.failed(new RegistryError('UNAVAILABLE', member === undefined ? `download relayed from a peer replica failed: ${message}` : `download from upstream "${member}" failed: ${message}`, { digest }));
    } finally {
      releaseHeap();
    }
  }
}

function flightKey(upstream: string, digest: Digest): string {
  return `${upstream}\n${digest}`;
}
