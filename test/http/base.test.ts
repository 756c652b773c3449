import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { errorCode } from '../support/oci-client.js';

let keel: KeelProcess;
beforeAll(async () => {
  keel = await startKeel();
});
afterAll(() => keel.destroy());

describe('GET /v2/', () => {
  test('answers 200 with the API version header', async () => {
    const res = await fetch(`${keel.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(await res.json()).toEqual({});
  });

  test('HEAD answers 200 too', async () => {
    const res = await fetch(`${keel.url}/v2/`, { method: 'HEAD' });
    expect(res.status).toBe(200);
  });
});

describe('unknown endpoints and methods', () => {
  test('an unknown path is a 404 with OCI error JSON', async () => {
    const res = await fetch(`${keel.url}/v3/whatever`);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('UNSUPPORTED');
  });

  test('a method the endpoint does not have is 405 UNSUPPORTED with Allow', async () => {
    const res = await fetch(`${keel.url}/v2/_catalog`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toContain('GET');
    expect(await errorCode(res)).toBe('UNSUPPORTED');
  });

  test('an invalid repository name is NAME_INVALID', async () => {
    for (const name of ['UPPER/case', 'a//b', 'a/-b', 'x'.repeat(300), 'a%2Fb', '.hidden']) {
      const res = await fetch(`${keel.url}/v2/${name}/tags/list`);
      expect([res.status, name]).toEqual([400, name]);
      expect(await errorCode(res)).toBe('NAME_INVALID');
    }
  });
});
