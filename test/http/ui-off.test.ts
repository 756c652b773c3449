/**
 * `[ui] enabled = false`: nothing of the web UI is mounted (`/` and `/ui/...` are 404) while
 * the registry and the JSON API answer as before; with the default, `/` is the UI's HTML.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';

let off: KeelProcess;
let on: KeelProcess;

beforeAll(async () => {
  off = await startKeel({ toml: '[ui]\nenabled = false\n' });
  on = await startKeel();
});

afterAll(async () => {
  await off?.destroy();
  await on?.destroy();
});

test('with the UI off, its pages and assets are 404 and the registry still answers', async () => {
  for (const path of ['/', '/ui/status', '/ui/proxy', '/ui/static/keel.css', '/ui/sign-in']) {
    const res = await fetch(`${off.url}${path}`);
    expect([path, res.status]).toEqual([path, 404]);
    expect(res.headers.get('content-type')).not.toMatch(/text\/html/);
  }
  expect((await fetch(`${off.url}/v2/`)).status).toBe(200);
  expect((await fetch(`${off.url}/api/v1/status`)).status).toBe(200);
});

test('with the default, / is the UI', async () => {
  const res = await fetch(`${on.url}/`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(await res.text()).toContain('<title>Repositories · Keel</title>');
});
