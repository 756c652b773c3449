/**
 * The one place a storage location from the configuration becomes a backend: a plain path is
 * the filesystem driver, an `s3://<bucket>/<prefix>` the S3 driver. A new driver is one more
 * branch here and its own files under storage/<driver>/.
 *
 * The S3 driver is imported only when a location names it: the AWS SDK is about 24 MiB of
 * resident memory (12 MiB of heap) that a Keel on the filesystem never uses.
 */
import type { Clock } from '../primitives/clock.js';
import type { StorageBackend } from './backend.js';
import { createFsBackend } from './fs/fs-backend.js';
import type { SendBuffers } from './fs/send-buffers.js';
import type { FreeSpace } from './fs/free-space.js';
import type { S3Settings } from './s3/s3-client.js';
import type { S3LocationToCheck } from './s3/s3-preflight.js';

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

export async function createBackend(location: BackendLocation, options: BackendOptions): Promise<StorageBackend> {
  if (location.kind === 's3') {
    if (!options.s3) throw new Error(`${options.setting}: an s3:// location needs the [s3] settings`);
    const [{ createS3Backend }, { createS3Client }] = await Promise.all([import('./s3/s3-backend.js'), import('./s3/s3-client.js')]);
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
export { S3SettingsError } from './s3/s3-settings-error.js';
export type { S3LocationToCheck };

/** Resolves when every s3:// location is usable (none: at once, without loading the driver). */
export async function checkS3Locations(settings: S3Settings, locations: readonly S3LocationToCheck[]): Promise<void> {
  if (locations.length === 0) return;
  const { checkS3Locations: check } = await import('./s3/s3-preflight.js');
  await check(settings, locations);
}
