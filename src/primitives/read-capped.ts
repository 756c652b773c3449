/**
 * Reads a small body (a manifest, a token response) whole, refusing to buffer more than `max`
 * bytes: reading stops at the first chunk past the cap and the source is destroyed (for an
 * HTTP response that closes the connection), so a huge or endless body costs at most `max`
 * bytes. `tooLarge` is the error for the caller's side: a client's oversized push is a 413,
 * an upstream's oversized answer an upstream fault.
 */
import type { Readable } from 'node:stream';
import { RegistryError } from './errors.js';

export type TooLarge = (max: number) => RegistryError;

const manifestTooLarge: TooLarge = (max) => new RegistryError('MANIFEST_INVALID', `manifest is larger than the limit of ${max} bytes`, { limit: max }, 413);

export async function readCapped(source: Readable, max: number, tooLarge: TooLarge = manifestTooLarge): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of source) {
      const buf = chunk as Buffer;
      total += buf.length;
      if (total > max) throw tooLarge(max);
      chunks.push(buf);
    }
  } finally {
    // Leaving the loop early destroys the source already; an error thrown by the source does not always.
    if (!source.readableEnded) source.destroy();
  }
  return Buffer.concat(chunks, total);
}
