/**
 * Start-up check of every s3:// storage location, before anything is served: the endpoint
 * answers, the credentials are accepted, the bucket exists, and a probe object can be written
 * under the prefix and deleted again (read-only keys are found at start, not by the first
 * push after a whole upload). A failure is one S3SettingsError whose message names the key to
 * fix, e.g. `registry_storage: bucket "x" does not exist at http://127.0.0.1:7480`.
 */
import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, S3SettingsError, s3Region, type S3Settings } from './s3-client.js';

export interface S3LocationToCheck {
  /** The setting that names it, for the message: "registry_storage", "proxy_storage". */
  readonly key: string;
  readonly bucket: string;
  readonly prefix: string;
}

/** What the SDK puts on a failed call (RGW leaves `message` empty: use name, Code and the status). */
interface SdkFailure {
  name?: string;
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

const CREDENTIAL_CODES: Record<string, string> = {
  InvalidAccessKeyId: 's3.access_key_id',
  SignatureDoesNotMatch: 's3.secret_access_key',
  InvalidToken: 's3.access_key_id',
  ExpiredToken: 's3.access_key_id',
  AuthorizationHeaderMalformed: 's3.region',
};
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE']);

function where(settings: S3Settings, env: NodeJS.ProcessEnv): string {
  return settings.endpoint !== '' ? settings.endpoint : `AWS S3 (region ${s3Region(settings, env)})`;
}

/** Turns what a call threw into the one line that names the setting to fix. */
function explain(err: unknown, location: S3LocationToCheck, settings: S3Settings, env: NodeJS.ProcessEnv, doing: string): S3SettingsError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkFailure;
  const code = e.Code ?? e.name ?? 'unknown error';
  const status = e.$metadata?.httpStatusCode;
  const at = where(settings, env);
  const bucket = `bucket "${location.bucket}"`;
  if (code === 'CredentialsProviderError') {
    return new S3SettingsError('s3.access_key_id', 's3.access_key_id: no S3 credentials: set s3.access_key_id and s3.secret_access_key, or give the AWS environment or credential chain some (AWS_ACCESS_KEY_ID, AWS_PROFILE, an instance role)', { cause: err });
  }
  const credentialKey = CREDENTIAL_CODES[code];
  if (credentialKey !== undefined) return new S3SettingsError(credentialKey, `${credentialKey}: the S3 server at ${at} refused the credentials (${code})`, { cause: err });
  if (code === 'NoSuchBucket' || (status === 404 && doing === 'list')) {
    return new S3SettingsError(location.key, `${location.key}: ${bucket} does not exist at ${at}`, { cause: err });
  }
  if (code === 'AccessDenied' || status === 403) {
    return new S3SettingsError(location.key, `${location.key}: the S3 server at ${at} denied ${doing === 'list' ? 'listing' : 'writing to'} ${bucket}${location.prefix ? ` under "${location.prefix}/"` : ''} (${code}); give the credentials s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on it`, { cause: err });
  }
  if (code === 'PermanentRedirect' || code === 'IllegalLocationConstraintException' || status === 301) {
    return new S3SettingsError('s3.region', `s3.region: ${bucket} is in another region than "${s3Region(settings, env)}" (${code})`, { cause: err });
  }
  const errno = (err as NodeJS.ErrnoException).code;
  if ((errno !== undefined && NETWORK_CODES.has(errno)) || code === 'TimeoutError' || status === undefined) {
    const reason = errno ?? code;
    return new S3SettingsError('s3.endpoint', `s3.endpoint: cannot reach the S3 server at ${at} (${reason}${e instanceof Error && e.message && e.message !== reason ? `: ${e.message}` : ''})`, { cause: err });
  }
  return new S3SettingsError(location.key, `${location.key}: the S3 server at ${at} answered ${status} ${code} for ${bucket}`, { cause: err });
}

async function checkOne(client: S3Client, location: S3LocationToCheck, settings: S3Settings, env: NodeJS.ProcessEnv): Promise<void> {
  const prefix = location.prefix === '' ? '' : `${location.prefix}/`;
  try {
    await client.send(new ListObjectsV2Command({ Bucket: location.bucket, Prefix: prefix, MaxKeys: 1 }));
  } catch (err) {
    throw explain(err, location, settings, env, 'list');
  }
  const probe = `${prefix}.keel-write-check-${randomBytes(8).toString('hex')}`;
  try {
    await client.send(new PutObjectCommand({ Bucket: location.bucket, Key: probe, Body: 'keel' }));
    await client.send(new DeleteObjectCommand({ Bucket: location.bucket, Key: probe }));
  } catch (err) {
    throw explain(err, location, settings, env, 'write');
  }
}

/** Resolves when every location is usable; rejects with the first S3SettingsError otherwise. */
export async function checkS3Locations(settings: S3Settings, locations: readonly S3LocationToCheck[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (locations.length === 0) return;
  const client = createS3Client(settings, env);
  try {
    for (const location of locations) await checkOne(client, location, settings, env);
  } finally {
    client.destroy();
  }
}
