/**
 * The one place a storage location from the configuration becomes a backend: a plain path is
 * the filesystem driver. A new driver (an `s3://` URL) is one more branch here and its own
 * files under storage/<driver>/.
 */
import type { StorageBackend } from './backend.js';
import { createFsBackend } from './fs/fs-backend.js';
import type { FreeSpace } from './fs/free-space.js';

export interface BackendOptions {
  /** The setting that names the location (registry_storage, proxy_storage), for messages. */
  setting: string;
  /** Where writes in progress and upload sessions of the filesystem driver live. */
  tempRoot: string;
  tempSetting: string;
  /** How the filesystem driver measures free space (statfs unless a test says otherwise). */
  freeSpace?: FreeSpace;
}

export function createBackend(location: string, options: BackendOptions): StorageBackend {
  // The switch point: other schemes (s3://) are recognised here, before the filesystem default.
  return createFsBackend({
    root: location,
    tempRoot: options.tempRoot,
    names: { root: options.setting, tempRoot: options.tempSetting },
    ...(options.freeSpace ? { freeSpace: options.freeSpace } : {}),
  });
}

export type { FreeSpace };
