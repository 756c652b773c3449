/**
 * The digest of stored pieces, read back in order: for content whose running hash this
 * process does not hold (an upload session continued after a restart or on another replica,
 * or an algorithm other than the one hashed while the bytes passed).
 */
import { createHash } from 'node:crypto';
import type { Digest, DigestAlgorithm } from '../../primitives/types.js';
import type { Piece, S3Bucket } from './s3-bucket.js';

export async function hashPieces(bucket: S3Bucket, pieces: Piece[], algorithm: DigestAlgorithm, after?: Buffer): Promise<Digest> {
  const hash = createHash(algorithm);
  for (const piece of pieces) {
    const got = await bucket.get(piece.key);
    if (!got) throw new Error(`piece ${piece.key} is missing`);
    let length = 0;
    for await (const chunk of got.body) {
      hash.update(chunk as Buffer);
      length += (chunk as Buffer).length;
    }
    if (length !== piece.size) throw new Error(`piece ${piece.key} has ${length} bytes, ${piece.size} recorded`);
  }
  if (after) hash.update(after);
  return `${algorithm}:${hash.digest('hex')}` as Digest;
}
