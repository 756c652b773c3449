/** Digests of small content held whole (manifests, configs); blobs are hashed as they stream (storage/file-hasher.ts). */
import { createHash } from 'node:crypto';
import { type Digest, type DigestAlgorithm } from './types.js';

export function digestBuffer(buf: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(buf).digest('hex')}` as Digest;
}
