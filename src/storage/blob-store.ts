/**
 * The content contract every storage backend implements (the filesystem driver, the S3
 * driver): content-addressed bytes read by digest with an optional range, written through a
 * writer that only makes them visible under their digest after the digest and length were
 * checked, and listed and removed for GC. Shaped like an object store, after distribution's
 * `storagedriver` (Reader/Writer with Commit/Cancel/Size, RedirectURL) and `blobserver`, so
 * nothing above this file sees a path, a file handle or an errno: failures are the typed
 * errors of storage-errors.ts.
 */
import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../primitives/types.js';

/** An inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobStatter {
  /** Size in bytes, or undefined when the content is not stored. */
  size(digest: Digest): Promise<number | undefined>;
  /** Resolves when the stored content has `size` bytes (the index's); a ContentIntegrityError otherwise. */
  verify(digest: Digest, size: number): Promise<void>;
}

export interface BlobProvider {
  /** The content (or a range of it) as a stream; rejects with BlobNotFoundError when it is not stored. */
  reader(digest: Digest, range?: ByteRange): Promise<Readable>;
  /**
   * Writes the content (or a range) to dest without ending it: the fast path for responses.
   * `size` is the length recorded in the index: missing content or content of another length
   * is a ContentIntegrityError before anything is written.
   */
  send(digest: Digest, dest: Writable, size: number, range?: ByteRange): Promise<void>;
  /** Reads small content (manifests) whole; refuses more than maxBytes. BlobNotFoundError when not stored. */
  readBytes(digest: Digest, maxBytes: number): Promise<Buffer>;
  /**
   * A URL from which a client may GET the content itself (a presigned object-store URL), valid
   * for a while; undefined when this store serves its bytes through Keel (the filesystem).
   */
  redirectUrl?(digest: Digest): Promise<string | undefined>;
}

/** Hears the running total once written bytes landed; `chunks`, when given, are the bytes that just did, in order. */
export type Landed = (total: number, chunks?: readonly Buffer[]) => void;

/** Bytes on their way into the store; invisible to readers until commit. */
export interface BlobWriter {
  /** Bytes written so far. */
  readonly size: number;
  /**
   * Appends `source` (at most `limit` bytes, a TooLargeError beyond); `landed` hears the total
   * each time written bytes have reached the store, and the chunks that just landed when the
   * writer still has them (the filesystem's: readers near the head send those instead of
   * reading the file back). Returns the bytes appended.
   */
  write(source: Readable, options?: { limit?: number; landed?: Landed }): Promise<number>;
  /**
   * Reads back bytes already written (for clients that follow a download as it grows), when
   * the backend can; undefined when it cannot (then the caller keeps its own spool).
   */
  readonly readAt?: (buffer: Buffer, position: number, length: number) => Promise<number>;
  /** Checks digest and length of everything written, then makes it visible under `digest`; a BlobDigestMismatchError (nothing visible) otherwise. */
  commit(digest: Digest): Promise<void>;
  /** Drops what was written; nothing stays behind. */
  cancel(): Promise<void>;
}

export interface BlobIngester {
  writer(): Promise<BlobWriter>;
  /** Small content (manifests) whole, visible under `digest` once written. */
  writeBytes(digest: Digest, bytes: Uint8Array): Promise<void>;
}

export interface BlobRemover {
  /** True when there was content to remove. */
  remove(digest: Digest): Promise<boolean>;
}

export interface StoredBlob {
  digest: Digest;
  size: number;
  /** Last write, in milliseconds since the epoch. */
  modified: number;
}

/** Something an interrupted write left behind (a temporary file, an abandoned multipart upload). */
export interface Leftover {
  /** Where it is, for GC's --list: a path, an object key. */
  name: string;
  size: number;
  /** Last write, in milliseconds since the epoch. */
  modified: number;
}

/** GC's view of a store: what is there, and removal that never takes content back from a writer. */
export interface BlobSweeper {
  /**
   * How many removeUnwanted calls GC keeps in flight on this store: what its backend takes at
   * once without queueing (requests to S3), or enough to fill each message to a worker.
   */
  readonly removalConcurrency: number;
  /**
   * Every stored blob, in no particular order. `skip`, when given, is asked about digests in
   * batches before their size and time are read, and the ones it returns are left out (GC
   * passes the index's: it needs nothing more about content the index knows).
   */
  list(skip?: (digests: readonly Digest[]) => Promise<ReadonlySet<string>>): AsyncIterable<StoredBlob>;
  /**
   * Removes the content of `digest` unless it was written at or after `cutoff` (ms since the
   * epoch) or `wanted()` says, at the last moment, that the index knows it again. Returns the
   * bytes freed (0 when kept or already gone).
   */
  removeUnwanted(digest: Digest, cutoff: number, wanted: () => boolean | Promise<boolean>): Promise<number>;
  /** Leftovers of interrupted writes older than `cutoff`: what sweepLeftovers would remove. Reads only (a dry run lists them). */
  leftovers(cutoff: number): AsyncIterable<Leftover>;
  /**
   * Finishes what interrupted runs left: removes leftovers of interrupted writes older than
   * `cutoff` (`removed` hears each one), and puts back content an interrupted GC run had set
   * aside (list() already shows it under its digest). Returns the bytes freed.
   */
  sweepLeftovers(cutoff: number, removed?: (leftover: Leftover) => void): Promise<number>;
}

export type BlobStore = BlobStatter & BlobProvider & BlobIngester & BlobRemover & BlobSweeper;
