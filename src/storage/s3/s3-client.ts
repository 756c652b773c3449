/**
 * The one place an S3Client is built from Keel's `[s3]` settings, so every S3 caller (blob
 * store, upload store, GC, start-up check) talks to the server the same way.
 *
 * - Checksums only when an operation requires them: the SDK's default (since 3.729) sends
 *   streamed bodies as aws-chunked with a trailing CRC, which Ceph RGW 16.2 and other
 *   S3-compatible servers refuse (411 MissingContentLength); Keel checks digests itself.
 * - Credentials: the static pair when configured, else the SDK's default chain
 *   (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, web identity, ECS, IMDS).
 * - Keep-alive agents with room for concurrent blob transfers; a connect timeout and an idle
 *   socket timeout, but no limit on a whole request (a 2 GiB blob takes what it takes).
 * - AWS_CA_BUNDLE: the JavaScript SDK v3 ignores it (no code of it reads the variable; the
 *   AWS CLI and the Go SDK do). Keel honours it for https endpoints, as the CLI does: the
 *   bundle's certificates are trusted on top of Node's roots. A bundle that cannot be read is
 *   an error naming the variable; for http:// endpoints it plays no part and is not read.
 * - No NodeVersionSupportWarning on stderr (see createS3Client).
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { S3Client } from '@aws-sdk/client-s3';
import { S3SettingsError } from './s3-settings-error.js';

/** The `[s3]` settings this needs (Config['s3'] has this shape). */
export interface S3Settings {
  readonly endpoint: string;
  readonly region: string;
  readonly force_path_style: boolean;
  readonly access_key_id: string;
  readonly secret_access_key: string;
}

export { S3SettingsError };

/** Enough for several concurrent multipart uploads (4 parts in flight each) and blob reads. */
export const S3_MAX_SOCKETS = 128;
const CONNECT_TIMEOUT_MS = 10_000;
/** A socket silent this long is dead: no byte in either direction for two minutes. */
const SOCKET_IDLE_TIMEOUT_MS = 120_000;
/** The SDK's standard retry mode: throttling and 5xx, with backoff; 3 tries in all. */
const MAX_ATTEMPTS = 3;
const FALLBACK_REGION = 'us-east-1';

/** The region the client signs for: the setting, else AWS_REGION, AWS_DEFAULT_REGION, us-east-1. */
export function s3Region(settings: S3Settings, env: NodeJS.ProcessEnv): string {
  return settings.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || FALLBACK_REGION;
}

function extraCertificates(settings: S3Settings, env: NodeJS.ProcessEnv): string[] | undefined {
  const bundle = env.AWS_CA_BUNDLE;
  // An empty endpoint means AWS's own, which is https.
  const https = settings.endpoint === '' || settings.endpoint.startsWith('https:');
  if (!bundle || !https) return undefined;
  try {
    return [...rootCertificates, readFileSync(bundle, 'utf8')];
  } catch (err) {
    throw new S3SettingsError('AWS_CA_BUNDLE', `AWS_CA_BUNDLE: cannot read the CA bundle "${bundle}": ${(err as Error).message} (unset it, or point it at a PEM file)`, { cause: err });
  }
}

/** The static pair when configured; else AWS_* from `env` (so an injected env is honoured); else the SDK's chain. */
function credentials(settings: S3Settings, env: NodeJS.ProcessEnv): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined {
  if (settings.access_key_id !== '') return { accessKeyId: settings.access_key_id, secretAccessKey: settings.secret_access_key };
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    return { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
  }
  return undefined;
}

export function createS3Client(settings: S3Settings, env: NodeJS.ProcessEnv = process.env): S3Client {
  // On Node < 22 the SDK's first client prints a 9-line NodeVersionSupportWarning (SDK releases
  // after January 2027 need Node 22) to stderr, breaking Keel's one-line start-up errors and log
  // format. Keel supports Node 20 with the SDK version it ships, so it is switched off with the
  // SDK's own variable, unless the operator set that variable.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const ca = extraCertificates(settings, env);
  const fixed = credentials(settings, env);
  const agentOptions = { keepAlive: true, maxSockets: S3_MAX_SOCKETS };
  return new S3Client({
    region: s3Region(settings, env),
    ...(settings.endpoint !== '' ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.force_path_style,
    ...(fixed ? { credentials: fixed } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: SOCKET_IDLE_TIMEOUT_MS,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent({ ...agentOptions, ...(ca ? { ca } : {}) }),
    },
  });
}
