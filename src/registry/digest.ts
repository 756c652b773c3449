/** Hashing helpers: digests are computed while bytes stream, never on a buffered whole blob. */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type Digest, type DigestAlgorithm } from './types.js';

export function createHasher(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(hash: Hash, algorithm: DigestAlgorithm): Digest {
  return `${algorithm}:${hash.digest('hex')}` as Digest;
}

export function digestBuffer(buf: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(buf).digest('hex')}` as Digest;
}

/** Hashes a file by streaming it (used when no incremental hash survived, e.g. after a restart). */
export async function digestFile(path: string, algorithm: DigestAlgorithm): Promise<Digest> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
  }
  return digestOf(hash, algorithm);
}
