/**
 * Typed failures of the stores, so the layers above test `instanceof` instead of an errno, a
 * SQLite result code or an S3 error name: a full disk, content that is not stored, content
 * whose bytes disagree with the index or with their digest, a write longer than allowed.
 */

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

/** A write failed because the filesystem (or the index database on it) has no room left. */
export class StorageFullError extends Error {
  constructor(cause: unknown) {
    super(`storage is full: ${(cause as Error | undefined)?.message ?? String(cause)}`, { cause });
    this.name = 'StorageFullError';
  }
}

/** The stored file of a digest is gone, or its length is not the one recorded for it. */
export class ContentIntegrityError extends Error {
  constructor(
    readonly digest: string,
    /** Where the content was looked for: for the logs, not for clients. */
    readonly location: string,
    readonly expected: number,
    /** The file's length; undefined when there is no file. */
    readonly actual: number | undefined,
  ) {
    super(actual === undefined ? `content ${digest} is missing at ${location}` : `content ${digest} has ${actual} bytes at ${location}, ${expected} recorded`);
    this.name = 'ContentIntegrityError';
  }
}

/** The content of a digest is not in the store. */
export class BlobNotFoundError extends Error {
  constructor(readonly digest: string) {
    super(`content ${digest} is not stored`);
    this.name = 'BlobNotFoundError';
  }
}

/** Bytes written for a digest hash to another digest (or have another length); nothing became visible. */
export class BlobDigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`content has digest ${actual}, not ${expected}`);
    this.name = 'BlobDigestMismatchError';
  }
}

/** A write went past the number of bytes it was allowed. */
export class TooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} bytes`);
    this.name = 'TooLargeError';
  }
}

/** `err` as a StorageFullError when it says the disk is full (ENOSPC, EDQUOT, SQLITE_FULL); `err` otherwise. */
export function asStorageError(err: unknown): unknown {
  if (err instanceof StorageFullError) return err;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && FULL_CODES.has(code) ? new StorageFullError(err) : err;
}

/** Runs `work`, turning a full-disk failure into a StorageFullError. */
export async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw asStorageError(err);
  }
}

/** The synchronous form of translated (better-sqlite3 statements). */
export function translatedSync<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    throw asStorageError(err);
  }
}
