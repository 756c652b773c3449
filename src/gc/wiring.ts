/**
 * Where GC gets its stores, index and lock: the one place of GC that knows which backend
 * backs them. The stores come from the same backend factory as the server's
 * (storage/backends.ts), so GC sweeps whatever the configuration names: a directory or a
 * bucket.
 */
import type { Config } from '../config/schema.js';
import type { Clock } from '../primitives/clock.js';
import type { StorageBackend } from '../storage/backend.js';
import { createBackend } from '../storage/backends.js';
import type { BlobSweeper } from '../storage/blob-store.js';
import type { GcIndex } from '../storage/gc-index.js';
import type { GcLock } from '../storage/gc-lock.js';
import { PgGcIndex } from '../storage/pg/pg-gc-index.js';
import { PgGcLock } from '../storage/pg/pg-gc-lock.js';
import { SqliteGcIndex } from '../storage/sqlite/sqlite-gc-queries.js';
import type { UploadStore } from '../storage/upload-store.js';
import { FileGcLock } from './file-gc-lock.js';

/** What GC does with upload sessions: find the abandoned ones, remove them. */
export type GcUploads = Pick<UploadStore, 'list' | 'remove'>;

export interface GcStores {
  registry: { blobs: BlobSweeper; uploads: GcUploads };
  proxy: { blobs: BlobSweeper };
  /** Releases the backends' connections and workers. */
  close(): Promise<void>;
}

/** A lock file beside a SQLite index; a session-level advisory lock in a PostgreSQL one. */
export function gcLock(config: Config): GcLock {
  return config.index.kind === 'postgres' ? new PgGcLock(config.index.url) : new FileGcLock(config.index.path);
}

/** GC's own connection to the index, migrated like the server's; a dry run's is read-only (and migrates nothing). */
export async function openGcIndex(config: Config, options: { readonly: boolean; clock: Clock }): Promise<GcIndex> {
  return config.index.kind === 'postgres' ? PgGcIndex.open(config.index.url, options) : SqliteGcIndex.open(config.index.path, options);
}

export async function gcStores(config: Config): Promise<GcStores> {
  const temp = { tempRoot: config.temporary_registry_storage, tempSetting: 'temporary_registry_storage', s3: config.s3 };
  const registry: StorageBackend = await createBackend(config.storage.registry, { setting: 'registry_storage', ...temp });
  const proxy: StorageBackend = await createBackend(config.storage.proxy, { setting: 'proxy_storage', ...temp });
  return {
    registry: { blobs: registry.blobs, uploads: registry.uploads },
    proxy: { blobs: proxy.blobs },
    close: async () => {
      await Promise.allSettled([registry.close(), proxy.close()]);
    },
  };
}
