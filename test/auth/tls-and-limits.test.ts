import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { createAuth } from '../../src/auth/create-auth.js';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/primitives/clock.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, errorCode, randomBytes, sha256 } from '../support/oci-client.js';

let dir: string;
beforeAll(async () => {
  await ensureTools(['openssl']);
  dir = await mkdtemp(join(tmpdir(), 'keel-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
}, 600_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('TLS', () => {
  let keel: KeelProcess;
  afterAll(() => keel?.destroy());

  test('with [tls] cert and key, Keel speaks HTTPS with that certificate', async () => {
    keel = await startKeel({ toml: `[tls]\ncert = "${join(dir, 'cert.pem')}"\nkey = "${join(dir, 'key.pem')}"\n` });
    const ca = await readFile(join(dir, 'cert.pem'));
    const status = await new Promise<number>((resolve, reject) => {
      request(`https://${keel.host}/v2/`, { ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(200);
    await expect(fetch(`http://${keel.host}/v2/`)).rejects.toThrow();
  });
});

describe('limits', () => {
  let keel: KeelProcess;
  afterAll(() => keel?.destroy());

  test('limits.max_blob_size refuses larger blobs with 413 and keeps nothing', async () => {
    keel = await startKeel({ toml: '[limits]\nmax_blob_size = "1KiB"\n' });
    const client = new Client(keel.url);
    const big = randomBytes(2048);
    const res = await client.fetch(`/v2/lim/app/blobs/uploads/?digest=${sha256(big)}`, { method: 'POST', body: big });
    expect(res.status).toBe(413);
    expect(await errorCode(res)).toBe('SIZE_INVALID');
    expect((await client.fetch(`/v2/lim/app/blobs/${sha256(big)}`, { method: 'HEAD' })).status).toBe(404);
    await client.pushBlob('lim/app', randomBytes(1024));
  });
});

describe('auth off', () => {
  test('logs a warning when listening beyond loopback, and none on loopback', async () => {
    const logged: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, done) {
        logged.push(chunk.toString());
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    expect(await createAuth(parseConfig('listen = "0.0.0.0:5000"', 'c', '/tmp'), systemClock, logger)).toBeUndefined();
    expect(await createAuth(parseConfig('listen = "127.0.0.1:5000"', 'c', '/tmp'), systemClock, logger)).toBeUndefined();
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0] as string)).toMatchObject({ level: 40, listen: '0.0.0.0:5000', msg: expect.stringContaining('authentication is off') });
  });
});
