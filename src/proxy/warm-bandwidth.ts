/**
 * The bandwidth cap of cache warming (`proxy.warm.bandwidth`): one token bucket per process,
 * shared by every upstream download warming started, so warming as a whole reads the upstream
 * at most that many bytes a second (after a burst of one second's worth). Clients' own
 * downloads are never slowed: a download warming started goes at full speed from the moment a
 * client's request joins it (`live()`).
 *
 * The bucket is the `limiter` package's TokenBucket (the usual token bucket of the Node
 * ecosystem) rather than a hand-written one.
 */
import { Transform, pipeline, type Readable } from 'node:stream';
import { TokenBucket } from 'limiter';

export interface WarmBandwidth {
  /** Bytes a second warming may read from upstreams. */
  readonly bytesPerSecond: number;
  /** `body` read no faster than the cap while `live()` is false. */
  throttle(body: Readable, live: () => boolean): Readable;
}

/** A cap of `bytesPerSecond` (at least 1); undefined for 0: no cap. */
export function warmBandwidth(bytesPerSecond: number): WarmBandwidth | undefined {
  if (bytesPerSecond <= 0) return undefined;
  const bucket = new TokenBucket({ bucketSize: bytesPerSecond, tokensPerInterval: bytesPerSecond, interval: 'second' });
  return {
    bytesPerSecond,
    throttle(body, live) {
      const paced = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          void take(bucket, chunk.length, live).then(
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

/** Takes `bytes` tokens, at most a bucketful at a time (the bucket refuses more), unless the download went live. */
async function take(bucket: TokenBucket, bytes: number, live: () => boolean): Promise<void> {
  for (let left = bytes; left > 0 && !live(); ) {
    const part = Math.min(left, bucket.bucketSize);
    await bucket.removeTokens(part);
    left -= part;
  }
}
