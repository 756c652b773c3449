/**
 * The S3 storage backend: a blob store and upload sessions in one bucket under one prefix
 * (s3-paths.ts), over an S3Client built by s3-client.ts. Nothing of it lives on local disk or
 * only in one process's memory, so several replicas can share a bucket (issue 18).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Clock } from '../../primitives/clock.js';
import type { StorageBackend } from '../backend.js';
import { S3BlobStore } from './s3-blob-store.js';
import { S3Bucket } from './s3-bucket.js';
import { S3Paths } from './s3-paths.js';
import { DEFAULT_TUNING, type S3Tuning } from './s3-tuning.js';
import { S3UploadStore } from './s3-upload-store.js';

export interface S3BackendOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix inside the bucket ("" for the bucket's root). */
  prefix: string;
  /** Offer presigned GET URLs for blobs; default true. */
  redirect?: boolean;
  redirectTtlSeconds?: number;
  tuning?: S3Tuning;
  /** Milliseconds since the epoch (Keel's injected clock), for signing redirect URLs. */
  clock?: Clock;
}

export function createS3Backend(options: S3BackendOptions): StorageBackend {
  const bucket = new S3Bucket(options.client, options.bucket);
  const paths = new S3Paths(options.prefix);
  const tuning = options.tuning ?? DEFAULT_TUNING;
  return {
    kind: 's3',
    blobs: new S3BlobStore(bucket, paths, {
      tuning,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.redirect !== undefined ? { redirect: options.redirect } : {}),
      ...(options.redirectTtlSeconds !== undefined ? { redirectTtlSeconds: options.redirectTtlSeconds } : {}),
    }),
    uploads: new S3UploadStore(bucket, paths, tuning),
    ready: () => bucket.ready(),
    close: async () => options.client.destroy(),
  };
}
