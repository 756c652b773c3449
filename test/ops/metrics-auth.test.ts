/** With auth on, /metrics on the main port needs a signed-in user (of metrics.users, when set). */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { errorCode } from '../support/oci-client.js';
import { rootWithUsers } from '../support/htpasswd.js';

const users = { prom: 'p-pass', dev: 'd-pass' };

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

async function startWithAuth(extra: string): Promise<KeelProcess> {
  const root = await rootWithUsers('keel-metrics-auth', users);
  return startKeel({ root, toml: `[auth]\nhtpasswd = "htpasswd"\n${extra}` });
}

async function bearer(keel: KeelProcess, user?: keyof typeof users): Promise<Record<string, string>> {
  const res = await fetch(`${keel.url}/token?service=keel`, { headers: user ? basic(user, users[user]) : {} });
  expect(res.status).toBe(200);
  return { Authorization: `Bearer ${((await res.json()) as { token: string }).token}` };
}

describe('metrics.users set', () => {
  let keel: KeelProcess;
  beforeAll(async () => {
    keel = await startWithAuth('[metrics]\nusers = ["prom"]\n');
  }, 60_000);
  afterAll(() => keel.destroy());

  test('without credentials, with wrong ones or with an anonymous token: 401, and no metric in the answer', async () => {
    for (const headers of [{}, basic('prom', 'wrong'), basic('nobody', 'x'), await bearer(keel)]) {
      const res = await fetch(`${keel.url}/metrics`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBeTruthy();
      const body = await res.text();
      expect(body).not.toContain('keel_');
      expect(JSON.parse(body)).toMatchObject({ errors: [{ code: 'UNAUTHORIZED' }] });
    }
  });

  test('a signed-in user not in metrics.users is DENIED', async () => {
    const res = await fetch(`${keel.url}/metrics`, { headers: basic('dev', users.dev) });
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('DENIED');
    expect((await fetch(`${keel.url}/metrics`, { headers: await bearer(keel, 'dev') })).status).toBe(403);
  });

  test('the metrics user scrapes with Basic credentials or a token', async () => {
    for (const headers of [basic('prom', users.prom), await bearer(keel, 'prom')]) {
      const res = await fetch(`${keel.url}/metrics`, { headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text()).toContain('keel_http_requests_total');
    }
  });
});

describe('metrics.users empty', () => {
  let keel: KeelProcess;
  beforeAll(async () => {
    keel = await startWithAuth('');
  }, 60_000);
  afterAll(() => keel.destroy());

  test('any signed-in user may scrape; anonymous may not', async () => {
    expect((await fetch(`${keel.url}/metrics`)).status).toBe(401);
    const res = await fetch(`${keel.url}/metrics`, { headers: basic('dev', users.dev) });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('keel_http_requests_total');
  });
});

describe('a separate metrics listener with auth on', () => {
  let keel: KeelProcess;
  beforeAll(async () => {
    keel = await startWithAuth('[metrics]\nlisten = "127.0.0.1:0"\n');
  }, 60_000);
  afterAll(() => keel.destroy());

  test('serves metrics there without credentials (bind it privately), and nothing on the main port', async () => {
    expect((await fetch(`${keel.url}/metrics`, { headers: basic('dev', users.dev) })).status).toBe(404);
    const res = await fetch(`http://127.0.0.1:${keel.running.metricsAddress?.port}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('keel_http_requests_total');
  });
});
