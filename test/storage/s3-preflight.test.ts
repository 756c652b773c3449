// The start-up check of s3:// locations against a real Ceph RGW (test/support/s3-server.ts),
// and the S3 client factory's handling of credentials and AWS_CA_BUNDLE; one refusal is shown
// through a real Keel process.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createS3Client, S3SettingsError, type S3Settings } from '../../src/storage/s3/s3-client.js';
import { checkS3Locations } from '../../src/storage/s3/s3-preflight.js';
import { KEEL, run, stopAll } from '../support/cli-process.js';
import { startS3, type S3Server } from '../support/s3-server.js';

jest.setTimeout(120_000);

let s3: S3Server;
let settings: S3Settings;
/** Accepts connections and drops them at once: an endpoint that is no S3 server. */
let dropper: Server;
let dropperUrl: string;
const scratch: string[] = [];

beforeAll(async () => {
  s3 = await startS3({ memoryBytes: 256 * 1024 ** 2 });
  await s3.createBucket('keel-ok');
  settings = { endpoint: s3.endpoint, region: s3.region, force_path_style: true, access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey };
  dropper = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve));
  const address = dropper.address();
  if (address === null || typeof address === 'string') throw new Error('no dropper address');
  dropperUrl = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await stopAll();
  await new Promise((resolve) => dropper.close(resolve));
  await s3.stop();
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

async function failure(check: Promise<void>): Promise<S3SettingsError> {
  const err = await check.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(S3SettingsError);
  expect((err as Error).message).not.toContain('\n');
  return err as S3SettingsError;
}

describe('checkS3Locations', () => {
  test('a good configuration passes, registry and proxy in one bucket, and leaves no probe object', async () => {
    await checkS3Locations(settings, [
      { key: 'registry_storage', bucket: 'keel-ok', prefix: 'registry' },
      { key: 'proxy_storage', bucket: 'keel-ok', prefix: '' },
    ]);
    const client = createS3Client(settings);
    try {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: 'keel-ok' }));
      expect(listed.KeyCount).toBe(0);
    } finally {
      client.destroy();
    }
  });

  test('a missing bucket names the key, the bucket and the endpoint', async () => {
    const err = await failure(checkS3Locations(settings, [{ key: 'proxy_storage', bucket: 'no-such-bucket', prefix: 'x' }]));
    expect(err.key).toBe('proxy_storage');
    expect(err.message).toBe(`proxy_storage: bucket "no-such-bucket" does not exist at ${s3.endpoint}`);
  });

  test('an unknown access key names s3.access_key_id', async () => {
    const err = await failure(checkS3Locations({ ...settings, access_key_id: 'NOSUCHKEY' }, [{ key: 'registry_storage', bucket: 'keel-ok', prefix: '' }]));
    expect(err.message).toBe(`s3.access_key_id: the S3 server at ${s3.endpoint} refused the credentials (InvalidAccessKeyId)`);
  });

  test('a wrong secret names s3.secret_access_key', async () => {
    const err = await failure(checkS3Locations({ ...settings, secret_access_key: 'wrong-secret' }, [{ key: 'registry_storage', bucket: 'keel-ok', prefix: '' }]));
    expect(err.message).toBe(`s3.secret_access_key: the S3 server at ${s3.endpoint} refused the credentials (SignatureDoesNotMatch)`);
  });

  test('an endpoint that is no S3 server names s3.endpoint', async () => {
    const err = await failure(checkS3Locations({ ...settings, endpoint: dropperUrl }, [{ key: 'registry_storage', bucket: 'keel-ok', prefix: '' }]));
    expect(err.key).toBe('s3.endpoint');
    expect(err.message).toMatch(new RegExp(`^s3\\.endpoint: cannot reach the S3 server at ${dropperUrl} \\(`));
  });

  test('without keys in [s3], AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the environment are used', async () => {
    const anonymous = { ...settings, access_key_id: '', secret_access_key: '' };
    await checkS3Locations(anonymous, [{ key: 'registry_storage', bucket: 'keel-ok', prefix: 'env' }], {
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    });
    const err = await failure(checkS3Locations(anonymous, [{ key: 'registry_storage', bucket: 'keel-ok', prefix: 'env' }], { AWS_ACCESS_KEY_ID: 'NOSUCHKEY', AWS_SECRET_ACCESS_KEY: 'x' }));
    expect(err.key).toBe('s3.access_key_id');
  });
});

describe('createS3Client and AWS_CA_BUNDLE', () => {
  test('http endpoints never read it: the machine-wide AWS_CA_BUNDLE breaks nothing, even a missing one', async () => {
    await checkS3Locations(settings, [{ key: 'registry_storage', bucket: 'keel-ok', prefix: '' }], { AWS_CA_BUNDLE: '/nonexistent/ca.pem' });
  });

  test('for https endpoints it is trusted; one that cannot be read is an error naming the variable', () => {
    const https = { ...settings, endpoint: 'https://s3.example.invalid' };
    createS3Client(https, { AWS_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt' }).destroy();
    let err: unknown;
    try {
      createS3Client(https, { AWS_CA_BUNDLE: '/nonexistent/ca.pem' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(S3SettingsError);
    expect((err as S3SettingsError).key).toBe('AWS_CA_BUNDLE');
    expect((err as Error).message).toMatch(/^AWS_CA_BUNDLE: cannot read the CA bundle "\/nonexistent\/ca.pem"/);
  });
});

describe('keel start-up', () => {
  async function start(toml: string): Promise<{ code: number | null; stderr: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'keel-s3-start-'));
    scratch.push(dir);
    const file = join(dir, 'keel.toml');
    await writeFile(file, `listen = "127.0.0.1:0"\n${toml}`);
    const child = run(KEEL, ['--config', file]);
    const code = await child.exited;
    return { code, stderr: child.stderr() };
  }

  const s3Table = (): string =>
    `[s3]\nendpoint = "${s3.endpoint}"\nforce_path_style = true\naccess_key_id = "${s3.accessKeyId}"\nsecret_access_key = "${s3.secretAccessKey}"\n`;

  test('a missing bucket stops start-up with one line naming registry_storage', async () => {
    const { code, stderr } = await start(`registry_storage = "s3://missing-bucket/keel"\n${s3Table()}`);
    expect(code).toBe(1);
    expect(stderr).toBe(`keel: cannot start: registry_storage: bucket "missing-bucket" does not exist at ${s3.endpoint}\n`);
  });

  test('a bad URL stops start-up with one line naming the key; the secret is never printed', async () => {
    const { code, stderr } = await start(`proxy_storage = "s3://Bad_Bucket"\n${s3Table()}`);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^keel: configuration error: .*key "proxy_storage": "Bad_Bucket" is not a valid S3 bucket name/);
    expect(stderr).not.toContain(s3.secretAccessKey);
  });
});
