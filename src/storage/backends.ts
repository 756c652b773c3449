/**
 * The one place a storage location from the configuration becomes a backend: a plain path is
 * the filesystem driver, an `s3://<bucket>/<prefix>` the S3 driver. A new driver is one more
 * branch here and its own files under storage/<driver>/.
 */
import type { Clock } from '../primitives/clock.js';
import type { StorageBackend } from './backend.js';
import { createFsBackend } from './fs/fs-backend.js';
import type { SendBuffers } from './fs/send-buffers.js';
import type { FreeSpace } from './fs/free-space.js';
import { createS3Backend } from './s3/s3-backend.js';
import { createS3Client, type S3Settings } from './s3/s3-client.js';

/** Where a store lives, as the configuration parsed it (config/storage-location.ts has the same shape). */
export type BackendLocation = { readonly kind: 'filesystem'; readonly path: string } | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string };

/** The `[s3]` table (Config['s3'] has this shape). */
export interface S3BackendSettings extends S3Settings {
  /** Blob GETs answered with a 307 to a presigned URL. */
  readonly redirect: boolean;
  /** How long a presigned URL lasts, in milliseconds. */
  readonly redirect_ttl: number;
}

export interface BackendOptions {
  /** The setting that names the location (registry_storage, proxy_storage), for messages. */
  setting: string;
  /** Where writes in progress and upload sessions of the filesystem driver live. */
  tempRoot: string;
  tempSetting: string;
  /** How the filesystem driver measures free space (statfs unless a test says otherwise). */
  freeSpace?: FreeSpace;
  /** Settings of the S3 driver; needed for an s3:// location. */
  s3?: S3BackendSettings;
  /** Signs presigned URLs with the injected time. */
  clock?: Clock;
  /** The filesystem driver's send buffers, one set for the process (send-buffers.ts). */
  sendBuffers?: SendBuffers;
}

export function createBackend(location: BackendLocation, options: BackendOptions): StorageBackend {
  if (location.kind === 's3') {
    if (!options.s3) throw new Error(`${options.setting}: an s3:// location needs the [s3] settings`);
    const backend = createS3Backend({
      client: createS3Client(options.s3),
      bucket: location.bucket,
      prefix: location.prefix,
      redirect: options.s3.redirect,
      redirectTtlSeconds: Math.round(options.s3.redirect_ttl / 1000),
      ...(options.clock ? { clock: options.clock } : {}),
    });
    // /ready names the setting and the bucket, as the filesystem driver names its root.
    const where = `${options.setting} "s3://${location.bucket}/${location.prefix}"`;
    return {
      ...backend,
      ready: () =>
        backend.ready().catch((err: unknown) => {
          throw new Error(`${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }),
    };
  }
  return createFsBackend({
    root: location.path,
    tempRoot: options.tempRoot,
    names: { root: options.setting, tempRoot: options.tempSetting },
    ...(options.freeSpace ? { freeSpace: options.freeSpace } : {}),
    ...(options.sendBuffers ? { sendBuffers: options.sendBuffers } : {}),
  });
}

export type { FreeSpace };
export { SendBuffers } from './fs/send-buffers.js';

// The start-up check of s3:// locations belongs to the S3 driver; the server reaches it here,
// through the one module that knows the drivers.
export { S3SettingsError } from './s3/s3-client.js';
export { checkS3Locations, type S3LocationToCheck } from './s3/s3-preflight.js';
