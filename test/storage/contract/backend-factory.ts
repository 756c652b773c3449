/** What every contract suite is given: a fresh, empty backend, and how to throw it away. */
import { Readable, Writable } from 'node:stream';
import type { StorageBackend } from '../../../src/storage/backend.js';

export type MakeBackend = () => Promise<{ backend: StorageBackend; cleanup: () => Promise<void> }>;

/** Collects what is written to it (a response stand-in for send()). */
export class Collector extends Writable {
  private readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    callback();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A source that yields `chunks` and then fails, as a client that goes away half way. */
export function failingSource(chunks: Buffer[]): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) yield chunk;
      throw new Error('the client went away');
    })(),
  );
}

/** `total` bytes of a repeatable pattern, streamed in `chunk`-sized pieces without holding them all. */
export function patternSource(total: number, chunk = 1 << 20): Readable {
  const piece = Buffer.alloc(chunk);
  for (let i = 0; i < chunk; i++) piece[i] = (i * 31 + 7) & 0xff;
  return Readable.from(
    (function* () {
      for (let sent = 0; sent < total; sent += chunk) yield piece.subarray(0, Math.min(chunk, total - sent));
    })(),
  );
}
