/**
 * A download another replica holds the lease for, followed from here: the bytes come from the
 * holder over the internal peer path (peer-downloads.ts serves it) as they land there, and
 * this process hashes and stores them like any download of its own (blob-fetcher.ts), so
 * its clients get their last byte only once the digest matched here.
 *
 * When the holder's stream ends early (the holder died, its socket closed), the relay looks
 * again: the blob may be stored by now (the rest is read from the store); or the lease has
 * expired (this replica claims it and asks the upstream, skipping what it already has, so
 * its clients complete at the cost of one more upstream GET); or the lease is still held
 * (wait, then ask the holder named in the lease again). No answer for 3 TTLs ends it as
 * UNAVAILABLE: a live holder this replica cannot reach must not hold a client forever.
 *
 * Not an SSRF vector: the only hosts this connects to are the holderUrl values in the lease
 * table, which only replicas (processes with access to the index) write; nothing of a
 * client's request goes into the URL but a digest and a configured upstream's name.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from '../primitives/errors.js';
import { digestAlgorithm, type Digest } from '../primitives/types.js';
import { claimLease, type LeaseDeps, type LeaseKeeper } from './lease-keeper.js';
import { PEER_SIGNATURE_HEADER, type PeerAuth } from './peer-auth.js';
import { noProxyMetrics, type ProxyMetrics } from './proxy-metrics.js';

/** The header a holder gives the blob's whole size in (its Content-Length is what is left from `from`). */
export const PEER_SIZE_HEADER = 'keel-blob-size';

export function peerDownloadPath(upstream: string, digest: Digest, from: number): string {
  return `/_keel/peer/v1/downloads/${encodeURIComponent(upstream)}/${digest}?from=${from}`;
}

/** Bytes from somewhere, starting at the offset asked for. */
export interface RelayPart {
  size: number | undefined;
  body: AsyncIterable<Buffer>;
  /** Stops reading early (the relay was abandoned). */
  destroy(): void;
}

/**
 * What the relay falls back on (blob-fetcher.ts): the proxy store, and the upstream itself.
 * The relay's body ends only once the bytes match the digest (hashed here).
 */
export interface RelayFallbacks {
  /** The stored blob from byte `from`, or undefined when it is not stored. */
  stored(from: number): Promise<RelayPart | undefined>;
  /** The whole blob from the upstream (one GET). */
  upstream(): Promise<RelayPart>;
}

export interface RelayDeps {
  lease: LeaseDeps;
  auth: PeerAuth;
  /** Pause before asking a holder again that did not answer. */
  retryDelayMs: number;
  metrics?: ProxyMetrics;
}

export interface OpenedRelay {
  size: number | undefined;
  /** The whole blob, whichever parts it comes from. */
  body: AsyncIterable<Buffer>;
}

type Found = RelayPart & { from: 'peer' | 'store' | 'upstream' };

export class PeerRelay {
  /** The lease, once this replica took the download over; the caller releases it when done. */
  keeper: LeaseKeeper | undefined;
  private readonly metrics: ProxyMetrics;

  constructor(
    private readonly deps: RelayDeps,
    private readonly key: string,
    private readonly upstream: string,
    private readonly digest: Digest,
    private readonly fallbacks: RelayFallbacks,
  ) {
    this.metrics = deps.metrics ?? noProxyMetrics;
  }

  /**
   * Finds the first part (holder, store or upstream). Undefined when the blob turned out to be
   * stored already: it is served from the store, not relayed.
   */
  async open(): Promise<OpenedRelay | undefined> {
    const first = await this.next(0);
    if (first.from === 'store') {
      first.destroy();
      return undefined;
    }
    return { size: first.size, body: this.bytes(first) };
  }

  private async *bytes(first: Found): AsyncGenerator<Buffer> {
    const { logger } = this.deps.lease;
    const size = first.size;
    // Hashed here, whichever parts the bytes came from: the relay ends (and the clients get
    // their last byte) only when they match, even when this replica does not store them.
    const hash = createHash(digestAlgorithm(this.digest));
    let sent = 0;
    let part = first;
    for (;;) {
      try {
        for await (const chunk of part.body) {
          sent += chunk.length;
          hash.update(chunk);
          yield chunk;
        }
        if (size === undefined || sent >= size) {
          const actual = `${digestAlgorithm(this.digest)}:${hash.digest('hex')}`;
          if (actual !== this.digest) throw new VerifiedError(`the relayed bytes have digest ${actual}`);
          return;
        }
        throw new Error(`stream ended at byte ${sent} of ${size}`);
      } catch (err) {
        part.destroy();
        // Only the holder's stream is worth resuming: a failing store or upstream fails the
        // download, as it would for a download of this replica's own; so do wrong bytes.
        if (part.from !== 'peer' || err instanceof VerifiedError) throw err;
        logger.warn({ upstream: this.upstream, digest: this.digest, at: sent, error: (err as Error).message }, 'peer stream of a download ended early; looking again');
      } finally {
        part.destroy();
      }
      part = await this.next(sent);
      if (part.size !== size) throw new Error(`the blob's size changed from ${size} to ${part.size} between sources`);
    }
  }

  /** The next source of bytes from `from` on (see the header comment for the order). */
  private async next(from: number): Promise<Found> {
    const { clock, ttlMs, logger } = this.deps.lease;
    const started = clock.now();
    for (;;) {
      const stored = await this.fallbacks.stored(from);
      if (stored) return { ...stored, from: 'store' };
      const claim = await claimLease(this.deps.lease, this.key);
      if (claim.won) {
        // A holder that finished stores the blob first and then releases: look once more.
        const storedNow = await this.fallbacks.stored(from);
        if (storedNow) {
          await claim.keeper.release();
          return { ...storedNow, from: 'store' };
        }
        this.keeper = claim.keeper;
        if (from > 0) {
          this.metrics.peerTakeover();
          logger.warn({ upstream: this.upstream, digest: this.digest, at: from }, 'the replica holding a download is gone: taking it over from the upstream');
        }
        try {
          const whole = await this.fallbacks.upstream();
          return { size: whole.size, body: skip(whole.body, from), destroy: () => whole.destroy(), from: 'upstream' };
        } catch (err) {
          this.keeper = undefined;
          await claim.keeper.release();
          throw err;
        }
      }
      const peer = await this.fromPeer(claim.current.holderUrl, from);
      if (peer) {
        this.metrics.peerRelay();
        return { ...peer, from: 'peer' };
      }
      if (clock.now() - started > 3 * ttlMs) {
        throw new RegistryError('UNAVAILABLE', `the replica downloading this blob (${claim.current.holder}) does not answer`, { digest: this.digest });
      }
      await sleep(this.deps.retryDelayMs);
    }
  }

  /** The holder's stream from `from`; undefined when it does not answer 200 (not in flight there, unreachable). */
  private async fromPeer(base: string, from: number): Promise<RelayPart | undefined> {
    const { logger, ttlMs } = this.deps.lease;
    const path = peerDownloadPath(this.upstream, this.digest, from);
    let url: URL;
    try {
      url = new URL(path, base);
    } catch {
      return undefined;
    }
    const signature = await this.deps.auth.sign('GET', path);
    return new Promise<RelayPart | undefined>((resolve) => {
      const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
      // An idle holder for a whole TTL: ask again (it may be gone, and its lease about to expire).
      const req = request(url, { method: 'GET', headers: { [PEER_SIGNATURE_HEADER]: signature }, timeout: ttlMs }, (res: IncomingMessage) => {
        const size = Number(res.headers[PEER_SIZE_HEADER]);
        if (res.statusCode !== 200) {
          res.resume();
          logger.debug({ holder: base, status: res.statusCode }, 'peer has no such download in flight');
          resolve(undefined);
          return;
        }
        resolve({ size: Number.isSafeInteger(size) ? size : undefined, body: res, destroy: () => req.destroy() });
      });
      req.on('timeout', () => req.destroy(new Error('the peer sent nothing for a lease TTL')));
      req.on('error', (err) => {
        logger.debug({ holder: base, error: err.message }, 'peer unreachable');
        resolve(undefined);
      });
      req.end();
    });
  }
}

/** The relayed bytes, complete, do not match the digest. */
class VerifiedError extends Error {}

/** `body` without its first `count` bytes. */
async function* skip(body: AsyncIterable<Buffer>, count: number): AsyncGenerator<Buffer> {
  let left = count;
  for await (const chunk of body) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}
