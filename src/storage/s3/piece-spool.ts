/**
 * Streams bytes into the bucket as pieces: objects of `partSize` bytes, each PUT once it is
 * full, at most `inFlight` PUTs at a time while the next piece fills, so memory stays at
 * (inFlight + 1) x partSize however long the stream (the source is only read while a piece
 * buffer is free: backpressure reaches the client). Bytes are hashed as they pass. What is
 * left at the end (less than a piece) is returned, not stored: the caller decides whether it
 * becomes a last piece or is kept for the next append.
 */
import type { Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { TooLargeError } from '../storage-errors.js';
import type { Piece, S3Bucket } from './s3-bucket.js';

export interface SpoolOptions {
  partSize: number;
  inFlight: number;
  /** Bytes that go before the source (a stored tail read back); already hashed. */
  head?: Buffer | undefined;
  /** Fed the source's bytes (not the head's). */
  hash?: Hash | undefined;
  /** Most bytes taken from the source; a TooLargeError beyond. */
  limit?: number | undefined;
  /** Key of the n-th piece this spool stores. */
  keyFor(index: number): string;
  /** Hears each piece once it and every piece before it are stored. */
  stored?: ((piece: Piece, bytesStored: number) => void) | undefined;
}

export interface SpoolResult {
  /** Pieces stored, in order. */
  pieces: Piece[];
  /** Bytes after the last piece (fewer than partSize), not stored. */
  rest: Buffer;
  /** Bytes taken from the source. */
  sourceBytes: number;
}

export async function spoolPieces(bucket: S3Bucket, source: Readable, options: SpoolOptions): Promise<SpoolResult> {
  const { partSize, inFlight } = options;
  const limit = options.limit ?? Infinity;
  const pieces: Array<Piece | undefined> = [];
  const running = new Set<Promise<void>>();
  let failure: unknown;
  let contiguous = 0;
  let bytesStored = 0;
  // Buffers whose PUT has settled are filled again: at most inFlight + 1 ever exist.
  const free: Buffer[] = [];
  let buffer: Buffer = Buffer.allocUnsafe(partSize);
  let filled = 0;
  let sourceBytes = 0;

  const markStored = (): void => {
    for (let p = pieces[contiguous]; p !== undefined; p = pieces[contiguous]) {
      bytesStored += p.size;
      contiguous++;
      options.stored?.(p, bytesStored);
    }
  };
  const flush = async (bytes: Buffer): Promise<void> => {
    while (running.size >= inFlight) await Promise.race(running);
    if (failure !== undefined) throw failure;
    const index = pieces.length;
    pieces.push(undefined);
    const key = options.keyFor(index);
    const put = bucket.put(key, bytes).then(
      () => {
        pieces[index] = { key, size: bytes.length };
        free.push(bytes);
        markStored();
      },
      (err: unknown) => {
        failure ??= err;
      },
    );
    const tracked = put.finally(() => running.delete(tracked));
    running.add(tracked);
  };
  const take = async (chunk: Buffer): Promise<void> => {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(partSize - filled, chunk.length - offset);
      chunk.copy(buffer, filled, offset, offset + n);
      filled += n;
      offset += n;
      if (filled === partSize) {
        await flush(buffer);
        // The PUT owns the full buffer until it settles; the next piece fills a new one.
        buffer = free.pop() ?? Buffer.allocUnsafe(partSize);
        filled = 0;
      }
    }
  };

  try {
    if (options.head && options.head.length > 0) await take(options.head);
    for await (const chunk of source) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      if (sourceBytes + b.length > limit) throw new TooLargeError(limit);
      options.hash?.update(b);
      sourceBytes += b.length;
      await take(b);
      if (failure !== undefined) throw failure;
    }
    await Promise.all(running);
    if (failure !== undefined) throw failure;
  } catch (err) {
    // Every PUT settles before the caller cleans up, so no piece lands after its cleanup.
    await Promise.allSettled(running);
    if (!source.destroyed) source.destroy();
    throw err;
  }
  return { pieces: pieces as Piece[], rest: buffer.subarray(0, filled), sourceBytes };
}
