import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client } from '../support/oci-client.js';
import { rootWithUsers } from '../support/htpasswd.js';

const PASSWORD = 'correct-horse-battery-staple';
const lines: string[] = [];
let keel: KeelProcess;

beforeAll(async () => {
  const root = await rootWithUsers('keel-logs', { alice: PASSWORD });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  keel = await startKeel({ root, toml: '[auth]\nhtpasswd = "htpasswd"\n', logger: pino({ level: 'info' }, sink) });
});
afterAll(() => keel.destroy());

describe('request logs', () => {
  test('one JSON line per request with method, path, status, bytes, duration and user; no secrets', async () => {
    const basic = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
    const tokenRes = await fetch(`${keel.url}/token?service=keel&scope=repository:team/app:pull,push`, { headers: { Authorization: basic } });
    const { token } = (await tokenRes.json()) as { token: string };
    const client = new Client(keel.url, { Authorization: `Bearer ${token}` });
    const image = await client.pushImage('team/app', 'v1');
    expect((await client.fetch('/v2/team/app/manifests/v1')).status).toBe(200);
    expect((await fetch(`${keel.url}/v2/team/app/manifests/v1`)).status).toBe(401);

    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = entries.filter((e) => e.msg === 'request');
    const put = requests.find((e) => e.method === 'PUT' && e.path === '/v2/team/app/manifests/v1');
    expect(put).toMatchObject({ status: 201, user: 'alice', level: 30 });
    expect(typeof put?.duration_ms).toBe('number');
    expect(put?.bytes_in).toBe(JSON.stringify(image.manifest).length);
    const get = requests.find((e) => e.method === 'GET' && e.path === '/v2/team/app/manifests/v1' && e.status === 200);
    expect(get?.bytes_out).toBeGreaterThan(JSON.stringify(image.manifest).length);
    expect(requests.find((e) => e.status === 401)).toMatchObject({ error: 'UNAUTHORIZED' });
    expect(requests.length).toBeGreaterThanOrEqual(6);

    const all = lines.join('\n');
    for (const secret of [PASSWORD, token, basic.slice(6), 'Bearer ', 'Basic ']) expect([secret.slice(0, 12), all.includes(secret)]).toEqual([secret.slice(0, 12), false]);
  });
});

describe('clients that leave mid-download', () => {
  test('are logged as aborted requests at info level, never as errors with a stack', async () => {
    const basic = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
    const tokenRes = await fetch(`${keel.url}/token?service=keel&scope=repository:team/big:pull,push`, { headers: { Authorization: basic } });
    const bearer = `Bearer ${((await tokenRes.json()) as { token: string }).token}`;
    const client = new Client(keel.url, { Authorization: bearer });
    const blob = await client.pushBlob('team/big', Buffer.alloc(32 * 1024 * 1024, 7));
    const path = `/v2/team/big/blobs/${blob.digest}`;
    for (let round = 0; round < 5; round++) {
      // A raw socket that reads the headers and a little of the body, then goes away for good.
      await new Promise<void>((done, fail) => {
        const socket = connect(keel.running.address.port, '127.0.0.1', () => {
          socket.write(`GET ${path} HTTP/1.1\r\nHost: keel\r\nAuthorization: ${bearer}\r\n\r\n`);
        });
        let seen = 0;
        socket.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > 64 * 1024) {
            socket.destroy();
            done();
          }
        });
        socket.on('error', fail);
      });
      // The server notices when a write fails; its request line says so.
      await until(() => lines.filter((l) => l.includes(path) && l.includes('"aborted":true')).length > round);
    }
    const entries = lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: unknown; path?: string });
    expect(entries.filter((e) => e.level >= 50)).toEqual([]);
    const aborted = entries.filter((e) => e.msg === 'request' && e.path === path);
    expect(aborted.map((e) => e.level)).toEqual([30, 30, 30, 30, 30]);
  });
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 10));
}
