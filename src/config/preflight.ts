/**
 * Start-up checks of the paths the configuration names, before anything opens them: each
 * storage root and a SQLite database's directory is created if missing and proven writable by
 * writing a file there; the database, if it exists, must be a writable regular file. A
 * failure is one StartupError naming the setting, the path and the reason, so that a
 * read-only volume is found at start and not by the first push after a whole upload.
 * Directories are created one level at a time: Node's recursive mkdir retries forever when a
 * parent exists but refuses children (`/proc/keel` spins at 100% CPU), this cannot loop.
 */
import { closeSync, mkdirSync, openSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { envName } from './env.js';
import { StartupError } from './errors.js';
import type { Config } from './schema.js';

type Setting = 'registry_storage' | 'temporary_registry_storage' | 'proxy_storage' | 'database' | 'auth.signing_key';

const REASONS: Record<string, string> = {
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  ENOENT: 'the parent directory does not accept new entries',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long',
};

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${REASONS[code] ?? (err as Error).message} (${code})` : (err as Error).message;
}

function fail(setting: Setting, path: string, what: string, todo: string): never {
  const named = `${setting} (${envName(setting.split('.'))})`;
  throw new StartupError(`${setting} "${path}": ${what}; ${todo.replace('{setting}', named)}`);
}

function statOrUndefined(path: string, setting: Setting): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    // ENOTDIR: a parent is a file; the walk up to it says which.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    return fail(setting, path, `cannot look at ${path}: ${reason(err)}`, 'set {setting} to another path');
  }
}

/** Creates `dir` and its missing parents, one level at a time, and checks that it is a directory. */
function ensureDirectory(setting: Setting, dir: string, shown: string): void {
  const missing: string[] = [];
  let at = dir;
  let stats = statOrUndefined(at, setting);
  while (stats === undefined) {
    missing.unshift(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
    stats = statOrUndefined(at, setting);
  }
  if (stats && !stats.isDirectory()) {
    const itself = at === dir && dir === shown;
    fail(setting, shown, itself ? 'exists and is not a directory' : `${at} is not a directory`, itself ? 'set {setting} to a directory' : 'set {setting} to another path');
  }
  for (const path of missing) {
    try {
      mkdirSync(path);
    } catch (err) {
      // Another process may create it at the same moment; what matters is that it is a directory.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(path).isDirectory()) {
        fail(setting, shown, `cannot create directory ${path}: ${reason(err)}`, 'create it yourself or set {setting} to another path');
      }
    }
  }
}

/** Writes and removes a file in `dir`: permission bits do not tell (root ignores them; a read-only mount does not). */
function proveWritable(setting: Setting, dir: string, shown: string): void {
  const probe = join(dir, `.keel-write-check-${process.pid}`);
  try {
    const fd = openSync(probe, 'w');
    try {
      writeSync(fd, 'keel');
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (err) {
    fail(setting, shown, `cannot write in ${dir}: ${reason(err)}`, 'make it writable for the user Keel runs as, or set {setting} to another path');
  }
}

function checkDirectory(setting: Setting, dir: string, shown = dir): void {
  ensureDirectory(setting, dir, shown);
  proveWritable(setting, dir, shown);
}

function checkDatabase(path: string): void {
  const stats = statOrUndefined(path, 'database');
  if (stats?.isDirectory()) fail('database', path, 'is a directory, not a database file', 'set {setting} to a file path, e.g. storage/index.db');
  if (stats && !stats.isFile()) fail('database', path, 'is not a regular file', 'set {setting} to a file path, e.g. storage/index.db');
  // SQLite writes its -wal and -shm files next to the database.
  checkDirectory('database', dirname(path), path);
  if (stats) {
    try {
      closeSync(openSync(path, 'r+'));
    } catch (err) {
      fail('database', path, `cannot open it for writing: ${reason(err)}`, 'make it writable for the user Keel runs as');
    }
  }
}

/** Throws a StartupError on the first path Keel could not use; creates what is missing. */
export function checkStorage(config: Config): void {
  // An s3:// location is checked against its bucket instead (storage/s3/s3-preflight.ts).
  if (config.storage.registry.kind === 'filesystem') checkDirectory('registry_storage', config.storage.registry.path);
  checkDirectory('temporary_registry_storage', config.temporary_registry_storage);
  if (config.storage.proxy.kind === 'filesystem') checkDirectory('proxy_storage', config.storage.proxy.path);
  // A PostgreSQL index is checked by connecting to it (storage/pg/pg-pool.ts).
  if (config.index.kind === 'sqlite') checkDatabase(config.index.path);
  // The signing key is created on first start when authentication is on: its directory must take it.
  if (config.auth.htpasswd !== '' && statOrUndefined(config.auth.signing_key, 'auth.signing_key') === undefined) {
    checkDirectory('auth.signing_key', dirname(config.auth.signing_key), config.auth.signing_key);
  }
}
