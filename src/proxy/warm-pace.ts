/**
 * How fast the downloads cache warming started read their upstream. Two rules, both for
 * warming's own downloads only (one a client's pull has joined is the client's, at full speed):
 *
 * - Live traffic first: while clients' own downloads run in this process, warming's downloads
 *   together read no more than YIELD_BYTES_PER_SECOND (a trickle that keeps their connections
 *   from going idle), so a cold pull gets the CPU, disk and network warming would take.
 * - The cap (`proxy.warm.bandwidth`): otherwise, together no more than that many bytes a
 *   second (after a burst of one second's worth); 0, no cap.
 *
 * The buckets are the `limiter` package's TokenBucket (the usual token bucket of the Node
 * ecosystem, with a FIFO queue of waiters) rather than a hand-written one.
 */
import { Transform, pipeline, type Readable } from 'node:stream';
import { TokenBucket } from 'limiter';

/** What warming's downloads read, all together, while clients' own downloads run. */
export const YIELD_BYTES_PER_SECOND = 1024 * 1024;
/** The trickle's pieces: small, so a download the trickle holds goes on soon after live traffic ends. */
const YIELD_PIECE = 64 * 1024;

export interface DownloadPace {
  /** A client's pull joined this download: it is no longer warming's alone. */
  live(): boolean;
  /** Clients' own downloads run in this process now. */
  yielding(): boolean;
}

export interface WarmPace {
  /** `body`, read as the two rules say while `pace.live()` is false. */
  throttle(body: Readable, pace: DownloadPace): Readable;
}

/** The pace of warming's downloads with a cap of `bytesPerSecond` (0: none). */
export function warmPace(bytesPerSecond: number): WarmPace {
  const cap = bytesPerSecond > 0 ? new TokenBucket({ bucketSize: bytesPerSecond, tokensPerInterval: bytesPerSecond, interval: 'second' }) : undefined;
  const trickle = new TokenBucket({ bucketSize: YIELD_PIECE, tokensPerInterval: YIELD_BYTES_PER_SECOND, interval: 'second' });
  return {
    throttle(body, pace) {
      const paced = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          void take(chunk.length, pace, cap, trickle).then(
            () => done(null, chunk),
            (err: unknown) => done(err as Error),
          );
        },
      });
      // Either side failing or destroyed (the download gives up on its body) ends both.
      return pipeline(body, paced, () => undefined);
    },
  };
}

/**
 * Takes `bytes` tokens a piece at a time (a bucket refuses more than it holds), from the
 * trickle while clients' downloads run, from the cap otherwise; nothing once the download is live.
 */
async function take(bytes: number, pace: DownloadPace, cap: TokenBucket | undefined, trickle: TokenBucket): Promise<void> {
  for (let left = bytes; left > 0 && !pace.live(); ) {
    const bucket = pace.yielding() ? trickle : cap;
    if (bucket === undefined) return;
    const piece = Math.min(left, bucket.bucketSize);
    await bucket.removeTokens(piece);
    left -= piece;
  }
}
