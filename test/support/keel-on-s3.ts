/**
 * Keel's configuration for a real S3 server (test/support/s3-server.ts): the registry and the
 * proxy cache in one bucket under two prefixes, and the [s3] table with the server's keys.
 */
import { randomUUID } from 'node:crypto';
import type { S3Server } from './s3-server.js';

export interface S3Storage {
  bucket: string;
  /** TOML for Keel: registry_storage, proxy_storage and [s3]; `[s3]` comes last, append other tables before it. */
  toml: string;
}

/** A fresh bucket on `s3` and the settings that put Keel's stores in it. */
export async function keelS3Storage(s3: S3Server, options: { redirect?: boolean; redirectTtl?: string } = {}): Promise<S3Storage> {
  const bucket = `keel-${randomUUID().slice(0, 8)}`;
  await s3.createBucket(bucket);
  const toml = `registry_storage = "s3://${bucket}/registry"
proxy_storage = "s3://${bucket}/proxy"

[s3]
endpoint = "${s3.endpoint}"
region = "${s3.region}"
force_path_style = true
access_key_id = "${s3.accessKeyId}"
secret_access_key = "${s3.secretAccessKey}"
redirect = ${options.redirect ?? true}
${options.redirectTtl ? `redirect_ttl = "${options.redirectTtl}"` : ''}
`;
  return { bucket, toml };
}
