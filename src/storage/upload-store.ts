/**
 * The bytes of blob upload sessions, the contract every backend implements. A session is
 * created, appended to at its current size (all-or-nothing: a chunk that fails half way leaves
 * the session at the last acknowledged size), hashed, and committed into the same backend's
 * blob store under its digest. Sessions survive a restart, and nothing about a session may
 * live only in the memory or on the local disk of one process when the backend is shared (an
 * object store): a PATCH may reach another replica.
 */
import type { Readable } from 'node:stream';
import type { Digest, DigestAlgorithm } from '../primitives/types.js';

export interface UploadSession {
  id: string;
  size: number;
  /** Last write, in milliseconds since the epoch. */
  modified: number;
}

export interface UploadStore {
  /** Bytes still free where sessions keep their bytes (Infinity for an object store). */
  freeSpace(): Promise<number>;
  create(id: string): Promise<void>;
  /** Bytes received, or undefined when there is no such session. */
  size(id: string): Promise<number | undefined>;
  /**
   * Appends `source` at `offset` (the session's size), at most `limit` bytes (a TooLargeError
   * beyond); `landed` hears the session's length as bytes land. Returns the bytes appended.
   */
  append(id: string, offset: number, source: Readable, limit?: number, landed?: (length: number) => void): Promise<number>;
  /** The digest of everything received. */
  digest(id: string, algorithm: DigestAlgorithm): Promise<Digest>;
  /** Makes the session's bytes visible in the backend's blob store under `digest` (already checked by the caller) and ends the session. */
  commit(id: string, digest: Digest): Promise<void>;
  /** Ends the session and drops its bytes; no error when it is gone already. */
  remove(id: string): Promise<void>;
  /** Every session with bytes in the store (GC removes abandoned ones). */
  list(): AsyncIterable<UploadSession>;
}
