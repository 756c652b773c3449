// The web UI with authentication on, in Debian's chromium: signing in with the htpasswd users
// (a session in an HttpOnly, SameSite=Strict cookie), what each user sees (only the
// repositories the access rules let them pull) and may do (a delete offered only where the
// rules allow it, with a confirmation saying GC frees the space later), signing out, and every
// state change refused without the page's CSRF secret or from another origin.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { BrowserContext, Page } from 'playwright-core';
import { startBrowser, screenshot, type TestBrowser } from '../support/browser.js';
import { ensureTools } from '../support/e2e/tools.js';
import { rootWithUsers } from '../support/htpasswd.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client } from '../support/oci-client.js';

jest.setTimeout(180_000);

let keel: KeelProcess;
let browser: TestBrowser;
/** team-a/app:v1's manifest, whose tag the tests delete first, then the manifest itself. */
let v1Digest: string;

const AUTH = `
[auth]
htpasswd = "htpasswd"

[[auth.access]]
repository = "team-a/**"
users = ["alice"]
actions = ["pull", "push", "delete"]

[[auth.access]]
repository = "team-a/**"
users = ["bob"]
actions = ["pull"]

[[auth.access]]
repository = "team-b/**"
users = ["carol"]
actions = ["pull"]
`;

async function signIn(page: Page, user: string, password: string): Promise<void> {
  await page.locator('form.sign-in-form input[name=username]').fill(user);
  await page.locator('form.sign-in-form input[name=password]').fill(password);
  await page.locator('form.sign-in-form button').click();
}

const names = (page: Page): Promise<string[]> => page.locator('table.repositories td.name').allInnerTexts();

beforeAll(async () => {
  await ensureTools(['chromium']);
  // Pushed with auth off, then the same storage served with auth on.
  const root = await rootWithUsers('keel-ui-auth', { alice: 'a-pass', bob: 'b-pass', carol: 'c-pass' });
  const open = await startKeel({ root });
  const client = new Client(open.url);
  v1Digest = (await client.pushImage('team-a/app', 'v1', { layers: 1, layerSize: 4096 })).digest;
  await client.pushImage('team-a/app', 'v2', { layers: 1, layerSize: 4096 });
  await client.pushImage('team-b/secret', 'v1', { layers: 1, layerSize: 4096 });
  await open.stop();
  keel = await startKeel({ root, toml: AUTH });
  browser = await startBrowser();
});

afterAll(async () => {
  await browser?.close();
  await keel?.destroy();
});

describe('web UI with auth on', () => {
  let bob: { context: BrowserContext; page: Page };

  test('anonymous sees no repository and is offered to sign in; the status page asks for it', async () => {
    const { page } = await browser.newPage();
    await page.goto(`${keel.url}/`);
    await expect(page.locator('p.empty').innerText()).resolves.toBe('No repositories yet: push an image to see it here.');
    await expect(page.locator('#sign-in a').innerText()).resolves.toBe('Sign in');
    const status = await page.goto(`${keel.url}/ui/status`);
    expect(status?.status()).toBe(401);
    // A repository anonymous may not pull is the same 404 as one that does not exist.
    expect((await page.goto(`${keel.url}/ui/repositories/team-b/secret`))?.status()).toBe(404);
  });

  test('bob signs in and comes back where he was: he sees team-a only, and no delete', async () => {
    bob = await browser.newPage();
    const { page, context } = bob;
    await page.goto(`${keel.url}/ui/repositories/team-a/app/-/tags/v1`);
    // Not signed in, the tag page shows (anonymous may not pull it: 404), with a sign-in link back here.
    await page.locator('#sign-in a').click();
    expect(new URL(page.url()).searchParams.get('next')).toBe('/ui/repositories/team-a/app/-/tags/v1');
    await screenshot(page, 'sign-in');
    await signIn(page, 'bob', 'b-pass');
    expect(page.url()).toBe(`${keel.url}/ui/repositories/team-a/app/-/tags/v1`);
    await expect(page.locator('#sign-in .user').innerText()).resolves.toBe('bob');
    await expect(page.locator('p.actions').count()).resolves.toBe(0);
    const [session] = (await context.cookies()).filter((c) => c.name === 'keel_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    await page.goto(`${keel.url}/`);
    await expect(names(page)).resolves.toEqual(['team-a/app']);
    expect((await page.goto(`${keel.url}/ui/repositories/team-b/secret`))?.status()).toBe(404);
    expect((await page.goto(`${keel.url}/ui/repositories/team-a/app/-/tags/v1/delete`))?.status()).toBe(403);
    expect((await page.goto(`${keel.url}/ui/status`))?.status()).toBe(200);
  });

  test('signing out ends the session in that browser', async () => {
    const { page, context } = bob;
    await page.goto(`${keel.url}/`);
    await page.locator('form.sign-out button').click();
    expect(page.url()).toBe(`${keel.url}/`);
    await expect(page.locator('#sign-in a').innerText()).resolves.toBe('Sign in');
    await expect(names(page)).resolves.toEqual([]);
    expect((await context.cookies()).filter((c) => c.name === 'keel_session')).toEqual([]);
  });

  test('a wrong password is refused on the form; alice deletes a tag after a confirmation that says GC frees the space', async () => {
    const { page } = await browser.newPage();
    await page.goto(`${keel.url}/ui/sign-in`);
    await signIn(page, 'alice', 'nope');
    await expect(page.locator('p.error').innerText()).resolves.toBe('Wrong user name or password.');
    await signIn(page, 'alice', 'a-pass');
    expect(page.url()).toBe(`${keel.url}/`);
    await page.goto(`${keel.url}/ui/repositories/team-a/app/-/tags/v1`);
    await page.locator('p.actions a', { hasText: 'Delete tag' }).click();
    await expect(page.locator('h1').innerText()).resolves.toBe('Delete the tag v1?');
    await expect(page.locator('main').innerText()).resolves.toContain('the next garbage collection run (scripts/gc) frees what nothing uses any more');
    await screenshot(page, 'confirm-delete');
    await page.locator('form.confirm-delete button.danger').click();
    expect(page.url()).toBe(`${keel.url}/ui/repositories/team-a/app`);
    await expect(page.locator('table.tags td:first-child a').allTextContents()).resolves.toEqual(['v2']);
  });

  test("a delete without the page's CSRF secret, or from another origin, is refused and deletes nothing", async () => {
    const { page, context } = await browser.newPage();
    await page.goto(`${keel.url}/ui/sign-in`);
    await signIn(page, 'alice', 'a-pass');
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const post = (body: string, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${keel.url}/ui/repositories/team-a/app/-/tags/v2/delete`, { method: 'POST', redirect: 'manual', headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body });
    expect((await post('')).status).toBe(403);
    expect((await post('csrf=00000000000000000000000000000000000000000000000')).status).toBe(403);
    // The right secret (from the page's form), but sent by another site.
    await page.goto(`${keel.url}/ui/repositories/team-a/app/-/tags/v2/delete`);
    const csrf = await page.locator('form.confirm-delete input[name=csrf]').getAttribute('value');
    expect((await post(`csrf=${csrf ?? ''}`, { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await post(`csrf=${csrf ?? ''}`, { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    // Nothing went: the tag is still there.
    await page.goto(`${keel.url}/ui/repositories/team-a/app`);
    await expect(page.locator('table.tags td:first-child a').allTextContents()).resolves.toEqual(['v2']);
    // And with it, from this origin, it goes.
    const ok = await post(`csrf=${csrf ?? ''}`, { Origin: keel.url });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/ui/repositories/team-a/app');
  });

  test('alice deletes a manifest by digest (its tag went before): the confirmation says clients can no longer pull it, and it is gone', async () => {
    const { page } = await browser.newPage();
    await page.goto(`${keel.url}/ui/sign-in?next=${encodeURIComponent(`/ui/repositories/team-a/app/-/manifests/${v1Digest}`)}`);
    await signIn(page, 'alice', 'a-pass');
    expect(page.url()).toBe(`${keel.url}/ui/repositories/team-a/app/-/manifests/${v1Digest}`);
    // By digest there is no tag to delete: only the manifest.
    await expect(page.locator('p.actions a').allTextContents()).resolves.toEqual(['Delete manifest']);
    await page.locator('p.actions a', { hasText: 'Delete manifest' }).click();
    await expect(page.locator('h1').innerText()).resolves.toBe('Delete this manifest?');
    await expect(page.locator('p.warning').innerText()).resolves.toContain('Clients can no longer pull it.');
    await page.locator('form.confirm-delete button.danger').click();
    expect(page.url()).toBe(`${keel.url}/ui/repositories/team-a/app`);
    expect((await page.goto(`${keel.url}/ui/repositories/team-a/app/-/manifests/${v1Digest}`))?.status()).toBe(404);
  });
});
