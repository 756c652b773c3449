/**
 * Where GC gets its stores, index and lock: the one place that knows which backend backs
 * them. The stores come from the same backend factory as the server's once there is one; on
 * this branch the filesystem parts are built here directly.
 */
import type { Config } from '../config/schema.js';
import type { BlobSweeper } from '../storage/blob-store.js';
import { FsBlobSweeper } from '../storage/fs/fs-blob-sweeper.js';
import type { GcIndex } from '../storage/gc-index.js';
import { SqliteGcIndex } from '../storage/sqlite-gc-queries.js';
import { FileGcLock } from './file-gc-lock.js';
import type { GcLock } from './gc-lock.js';
import { FsUploadSessions, type GcUploads } from './fs-upload-sessions.js';

export interface GcStores {
  registry: { blobs: BlobSweeper; uploads: GcUploads };
  proxy: { blobs: BlobSweeper };
}

export function gcLock(config: Config): GcLock {
  return new FileGcLock(config.database);
}

/** GC's own connection to the index; a dry run's is read-only. */
export function openGcIndex(config: Config, options: { readonly: boolean }): GcIndex {
  return SqliteGcIndex.open(config.database, options);
}

export function gcStores(config: Config): GcStores {
  return {
    registry: {
      blobs: new FsBlobSweeper(config.registry_storage, config.temporary_registry_storage),
      uploads: new FsUploadSessions(config.temporary_registry_storage),
    },
    proxy: { blobs: new FsBlobSweeper(config.proxy_storage, config.temporary_registry_storage) },
  };
}
