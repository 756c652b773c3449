/**
 * The state object of an S3 upload session (uploads/<id>/state, see s3-paths.ts): its size,
 * a version that every append raises, and its pieces in order. Written whole (one PutObject is
 * atomic) as the last step of every append, so it names exactly the acknowledged bytes: pieces
 * an append stored before it failed are not listed and do not count. Sizes and offsets survive
 * a restart and are the same seen from any replica.
 */
import type { Piece } from './s3-bucket.js';

export interface UploadState {
  version: number;
  size: number;
  pieces: Piece[];
}

export function encodeState(state: UploadState): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, ...state }));
}

export function decodeState(bytes: Buffer, key: string): UploadState {
  const raw = JSON.parse(bytes.toString('utf8')) as { v?: unknown; version?: unknown; size?: unknown; pieces?: unknown };
  const pieces = Array.isArray(raw.pieces) ? (raw.pieces as Array<{ key?: unknown; size?: unknown }>) : undefined;
  if (raw.v !== 1 || typeof raw.version !== 'number' || typeof raw.size !== 'number' || !pieces) throw new Error(`${key} is not an upload state`);
  const parsed = pieces.map((p) => {
    if (typeof p.key !== 'string' || typeof p.size !== 'number') throw new Error(`${key} lists a bad piece`);
    return { key: p.key, size: p.size };
  });
  if (parsed.reduce((n, p) => n + p.size, 0) !== raw.size) throw new Error(`${key}: pieces do not add up to the size`);
  return { version: raw.version, size: raw.size, pieces: parsed };
}
