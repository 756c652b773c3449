/**
 * Typed failures of the stores, so the layers above test `instanceof` instead of an errno or
 * a SQLite result code: a full disk, and content whose file disagrees with the index.
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
