/**
 * An object's bytes that survive the object store closing a GET before its end. An S3 server
 * drops a connection whose reader paused too long: radosgw's beast frontend after 65 s in
 * which a write to the socket made no progress (its request_timeout_ms), AWS S3 after a
 * similar idle time. A Keel body is read only as fast as its client takes it, so a client that
 * stalls for a minute (a node under load, a congested link) would lose its transfer, and a
 * cluster's herd of slow pulls would see some fail. Here a body that fails mid-way is asked
 * for again from its first unread byte with a ranged GET, as long as the tries bring bytes:
 * after MAX_FRUITLESS_TRIES in a row that brought none, the last failure is the answer.
 *
 * The key is a digest's: its bytes never change, so parts of two GETs are one object's. A key
 * that vanished between the GETs (a GC run) fails the read.
 */
import type { Readable } from 'node:stream';
import type { S3Bucket } from './s3-bucket.js';
import { S3RequestError } from './s3-errors.js';

/** Ranged re-GETs in a row that may bring no byte before the read fails. */
const MAX_FRUITLESS_TRIES = 3;

export interface ResumingRead {
  bucket: S3Bucket;
  key: string;
  /** The first GET's body, already open. */
  body: Readable;
  /** The first byte and the last (inclusive) the read is for. */
  start: number;
  end: number;
}

/** The bytes `start` to `end` of the object, one chunk at a time, resumed where a body failed. */
export async function* resumingBody(read: ResumingRead): AsyncGenerator<Buffer> {
  let body = read.body;
  let position = read.start;
  let fruitless = 0;
  try {
    for (;;) {
      const before = position;
      try {
        for await (const chunk of body) {
          position += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (position > read.end) return;
        throw new Error(`the body ended at byte ${position} of ${read.end + 1}`);
      } catch (err) {
        body.destroy();
        fruitless = position > before ? 0 : fruitless + 1;
        if (fruitless > MAX_FRUITLESS_TRIES) throw bodyFailure(read.key, err);
      }
      const again = await read.bucket.get(read.key, { start: position, end: read.end });
      if (!again) throw new S3RequestError('GetObject', read.key, 'NoSuchKey', 404, new Error(`the object vanished while it was read, at byte ${position}`));
      body = again.body;
    }
  } finally {
    if (!body.readableEnded) body.destroy();
  }
}

function bodyFailure(key: string, err: unknown): Error {
  if (err instanceof S3RequestError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return new S3RequestError('GetObject', key, `body failed: ${code ?? (err as Error | undefined)?.message ?? 'unknown'}`, undefined, err);
}
