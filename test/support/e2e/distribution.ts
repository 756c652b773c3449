// CNCF Distribution 2.8 (Debian's `docker-registry`) on a free loopback port: the upstream
// for pull-through tests and the yardstick for benchmarks.
//
// Layout under the temp dir:
//   config.yml     written here: filesystem storage (or the s3 driver), deletes enabled, no
//                  upload purging, optional htpasswd or token auth, optional proxy section
//   storage/       the registry's data (unused with the s3 driver)
//   htpasswd       bcrypt entries from `htpasswd -Bbn` when auth is on
//   token-root.crt.pem  a copy of tokenAuth.rootCertBundle (read once, at start)
//   registry.log   its output
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Credentials } from './credentials.js';
import { freePort } from './ports.js';
import { allReady, fileContains, httpResponds, startProcess, type ManagedProcess } from './processes.js';
import { runText } from './run.js';
import { makeTempDir } from './temp-dir.js';
import { toolPath } from './tools.js';

/**
 * Distribution's `auth: token:` section: clients must present a Bearer JWT from `realm`
 * whose `iss` is `issuer`, whose `aud` is `service`, and whose signing certificate (`x5c`
 * header) chains to a certificate in `rootCertBundle` (PEM). 2.8 allows 60 s of clock skew
 * on `exp` and `nbf`. A token server's `tokenAuth` (token-server.ts) has this shape.
 */
export interface DistributionTokenAuth {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
}

export interface StartDistributionOptions {
  /** Require these credentials (HTTP basic via htpasswd, bcrypt). Not with `tokenAuth`. */
  auth?: Credentials;
  /** Require Bearer tokens from a token server (Docker token auth). Not with `auth`. */
  tokenAuth?: DistributionTokenAuth;
  /**
   * Run as a pull-through cache of this upstream (Distribution's `proxy` section). Note:
   * Distribution 2.8 only sends `credentials` to upstreams with token (Bearer) auth; an
   * upstream that challenges with Basic auth gets anonymous requests.
   */
  proxy?: { remoteUrl: string; credentials?: Credentials };
  /** Keep the data in an S3 bucket (Distribution's s3 driver) instead of `storage/`. */
  s3?: DistributionS3Storage;
}

/**
 * Distribution's `storage: s3:` section for an S3-compatible server such as Ceph RGW:
 * `regionendpoint` with `secure: false` for plain http, v4 signatures (2.8 uses path-style
 * URLs whenever `regionendpoint` is set). Blob GETs answer 307 to a presigned URL (its
 * default; `redirect.disable` is left off).
 */
export interface DistributionS3Storage {
  /** http://host:port */
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Key prefix inside the bucket ("/" by default). */
  rootDirectory?: string;
}

export interface Distribution {
  /** host:port, as used in image references. */
  readonly host: string;
  /** http://host:port */
  readonly url: string;
  readonly dir: string;
  readonly storageDir: string;
  readonly process: ManagedProcess;
  /** Stops the registry and deletes its directory. */
  stop(): Promise<void>;
}

const PORT_ATTEMPTS = 5;

interface ConfigInputs extends StartDistributionOptions {
  storageDir: string;
  host: string;
  htpasswd?: string;
  /** The copy of tokenAuth.rootCertBundle inside the registry's directory. */
  tokenRootCerts?: string;
}

function configYaml(opts: ConfigInputs): string {
  const q = (s: string): string => JSON.stringify(s);
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    ...(opts.s3 === undefined
      ? ['  filesystem:', `    rootdirectory: ${q(opts.storageDir)}`]
      : [
          '  s3:',
          `    regionendpoint: ${q(opts.s3.endpoint)}`,
          `    region: ${q(opts.s3.region)}`,
          `    bucket: ${q(opts.s3.bucket)}`,
          `    accesskey: ${q(opts.s3.accessKeyId)}`,
          `    secretkey: ${q(opts.s3.secretAccessKey)}`,
          `    rootdirectory: ${q(opts.s3.rootDirectory ?? '/')}`,
          `    secure: ${opts.s3.endpoint.startsWith('https:') ? 'true' : 'false'}`,
          '    v4auth: true',
        ]),
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(opts.host)}`,
    // A fixed secret silences the "No HTTP secret provided" warning and keeps upload
    // state valid across a restart on the same directory.
    '  secret: keel-e2e-not-a-secret',
  ];
  if (opts.htpasswd !== undefined) {
    lines.push('auth:', '  htpasswd:', '    realm: keel-e2e', `    path: ${q(opts.htpasswd)}`);
  }
  if (opts.tokenAuth !== undefined && opts.tokenRootCerts !== undefined) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${q(opts.tokenAuth.realm)}`,
      `    service: ${q(opts.tokenAuth.service)}`,
      `    issuer: ${q(opts.tokenAuth.issuer)}`,
      `    rootcertbundle: ${q(opts.tokenRootCerts)}`,
    );
  }
  if (opts.proxy !== undefined) {
    lines.push('proxy:', `  remoteurl: ${q(opts.proxy.remoteUrl)}`);
    if (opts.proxy.credentials !== undefined) {
      lines.push(`  username: ${q(opts.proxy.credentials.username)}`, `  password: ${q(opts.proxy.credentials.password)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The environment for the s3 driver: without AWS_CA_BUNDLE, which this machine sets and on
 * which the Go AWS SDK in Debian's docker-registry panics ("unable to load custom CA bundle")
 * because the driver brings its own HTTP transport (S3-TESTING.md, pitfall 15).
 */
function s3Environment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'AWS_CA_BUNDLE'));
}

export async function startDistribution(opts: StartDistributionOptions = {}): Promise<Distribution> {
  if (opts.auth !== undefined && opts.tokenAuth !== undefined) {
    throw new Error('startDistribution: `auth` (htpasswd) and `tokenAuth` are exclusive: Distribution takes one auth method');
  }
  const tmp = await makeTempDir('dist');
  const dir = tmp.path;
  const storageDir = join(dir, 'storage');
  const config = join(dir, 'config.yml');
  let htpasswd: string | undefined;
  let tokenRootCerts: string | undefined;
  try {
    if (opts.auth !== undefined) {
      htpasswd = join(dir, 'htpasswd');
      const entry = await runText(toolPath('htpasswd'), ['-Bbn', opts.auth.username, opts.auth.password]);
      await writeFile(htpasswd, entry);
    }
    if (opts.tokenAuth !== undefined) {
      // A copy in our own directory: the registry must not depend on the token server's files.
      tokenRootCerts = join(dir, 'token-root.crt.pem');
      await copyFile(opts.tokenAuth.rootCertBundle, tokenRootCerts);
    }
    // The port is picked before the registry binds it; another process may take it in
    // between, so a start that fails on the address is retried on a new port.
    for (let attempt = 1; ; attempt++) {
      const host = `127.0.0.1:${await freePort()}`;
      await writeFile(config, configYaml({ ...opts, storageDir, host, htpasswd, tokenRootCerts }));
      const logFile = join(dir, 'registry.log');
      let proc: ManagedProcess;
      try {
        proc = await startProcess({
          name: 'docker-registry',
          file: toolPath('docker-registry'),
          args: ['serve', config],
          ...(opts.s3 === undefined ? {} : { env: s3Environment() }),
          logFile,
          // The log line proves that *this* process owns the port, not a stranger.
          ready: allReady(fileContains(logFile, `listening on ${host}`), httpResponds({ url: `http://${host}/v2/` }, [200, 401])),
          readyTimeoutMs: 30_000,
        });
      } catch (e) {
        if (attempt < PORT_ATTEMPTS && String(e).includes('address already in use')) continue;
        throw e;
      }
      return {
        host,
        url: `http://${host}`,
        dir,
        storageDir,
        process: proc,
        async stop() {
          try {
            await proc.stop();
          } finally {
            await tmp.remove();
          }
        },
      };
    }
  } catch (e) {
    await tmp.remove();
    throw e;
  }
}
