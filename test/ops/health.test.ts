import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';

let keel: KeelProcess;
beforeAll(async () => {
  keel = await startKeel();
});
afterAll(async () => {
  execFileSync('chattr', ['-i', keel.config.registry_storage]);
  await keel.destroy();
});

describe('health and readiness', () => {
  test('/health is healthy and /ready ready while everything works', async () => {
    const health = await fetch(`${keel.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'healthy' });
    const ready = await fetch(`${keel.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  test('they answer as an Express route would: any case, a trailing slash allowed; a longer path is not them', async () => {
    for (const path of ['/health/', '/HEALTH', '/Ready/']) expect((await fetch(`${keel.url}${path}`)).status).toBe(200);
    expect((await fetch(`${keel.url}/healthz`)).status).toBe(404);
  });

  test('/ready is 503 naming the storage root that cannot be written; /health stays healthy', async () => {
    // chattr +i: even root cannot create files in an immutable directory.
    execFileSync('chattr', ['+i', keel.config.registry_storage]);
    try {
      const ready = await fetch(`${keel.url}/ready`);
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { status: string; problems: string[] };
      expect(body.status).toBe('not ready');
      expect(body.problems).toEqual([expect.stringMatching(/^registry_storage: not writable \(EPERM\)/)]);
      expect((await fetch(`${keel.url}/health`)).status).toBe(200);
    } finally {
      execFileSync('chattr', ['-i', keel.config.registry_storage]);
    }
    expect((await fetch(`${keel.url}/ready`)).status).toBe(200);
  });
});
