/** Reads a small request body (a manifest) whole, refusing to buffer more than `max` bytes. */
import type { Readable } from 'node:stream';
import { RegistryError } from './errors.js';

export async function readCapped(source: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of source) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > max) {
      throw new RegistryError('MANIFEST_INVALID', `manifest is larger than the limit of ${max} bytes`, { limit: max }, 413);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}
