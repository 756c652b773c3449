import { generateKeyPairSync } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SignJWT } from 'jose';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, errorCode, randomBytes, sha256 } from '../support/oci-client.js';
import { rootWithUsers } from '../support/htpasswd.js';
import { keelToken } from '../support/tokens.js';

const clock = new ManualClock();
let keel: KeelProcess;

const users = { writer: 'w-pass', reader: 'r-pass', dev: 'd-pass' };

function token(scopes: string[], user?: keyof typeof users): Promise<string> {
  return keelToken(keel.url, scopes, user && { username: user, password: users[user] });
}

function as(bearer: string): Client {
  return new Client(keel.url, { Authorization: `Bearer ${bearer}` });
}

beforeAll(async () => {
  const root = await rootWithUsers('keel-auth', users);
  keel = await startKeel({
    root,
    clock,
    toml: `
[auth]
htpasswd = "htpasswd"
token_ttl = "5m"

[auth.groups]
devs = ["dev"]

[[auth.access]]
repository = "**"
users = ["writer"]
actions = ["pull", "push", "delete"]

[[auth.access]]
repository = "team/**"
users = ["reader", "group:devs"]
actions = ["pull"]

[[auth.access]]
repository = "team/dev-*"
users = ["group:devs"]
actions = ["push"]

[[auth.access]]
repository = "public/**"
users = ["anonymous"]
actions = ["pull"]
`,
  });
}, 60_000);
afterAll(() => keel.destroy());

describe('the challenge', () => {
  test("/v2/ without a token is 401 with a Bearer challenge naming this server's token endpoint", async () => {
    const res = await fetch(`${keel.url}/v2/`);
    expect(res.status).toBe(401);
    expect(await errorCode(res)).toBe('UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${keel.url}/token",service="keel"`);
  });

  test('a repository request names the scope it needs', async () => {
    const pull = await fetch(`${keel.url}/v2/team/app/manifests/v1`);
    expect(pull.headers.get('www-authenticate')).toContain('scope="repository:team/app:pull"');
    const push = await fetch(`${keel.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    expect(push.status).toBe(401);
    expect(push.headers.get('www-authenticate')).toContain('scope="repository:team/app:pull,push"');
    const del = await fetch(`${keel.url}/v2/team/app/manifests/${sha256('x')}`, { method: 'DELETE' });
    expect(del.headers.get('www-authenticate')).toContain('scope="repository:team/app:delete"');
  });
});

describe('the token endpoint', () => {
  test('wrong credentials are 401; anonymous and signed-in users get tokens with what they may do', async () => {
    const bad = await fetch(`${keel.url}/token?scope=repository:team/app:pull`, { headers: { Authorization: `Basic ${Buffer.from('writer:nope').toString('base64')}` } });
    expect(bad.status).toBe(401);
    const decode = (t: string): { sub: string; access: Array<{ name: string; actions: string[] }> } =>
      JSON.parse(Buffer.from(t.split('.')[1] as string, 'base64url').toString('utf8')) as { sub: string; access: Array<{ name: string; actions: string[] }> };
    expect(decode(await token(['repository:team/app:pull,push'], 'reader')).access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'], refused: ['push'] }]);
    expect(decode(await token(['repository:team/app:pull,push'], 'writer')).access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    expect(decode(await token(['repository:team/dev-x:pull,push'], 'dev')).access[0]?.actions).toEqual(['pull', 'push']);
    const anon = decode(await token(['repository:public/base:pull', 'repository:team/app:pull']));
    expect(anon.sub).toBe('');
    expect(anon.access).toEqual([
      { type: 'repository', name: 'public/base', actions: ['pull'] },
      { type: 'repository', name: 'team/app', actions: [], refused: ['pull'] },
    ]);
  });

  test('the OAuth2 form POST /token (grant_type=password) that containerd uses', async () => {
    const form = new URLSearchParams({ grant_type: 'password', username: 'writer', password: users.writer, service: 'keel', scope: 'repository:team/app:pull', client_id: 'containerd' });
    const res = await fetch(`${keel.url}/token`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; expires_in: number };
    expect(body.expires_in).toBe(300);
    expect((await as(body.access_token).fetch('/v2/')).status).toBe(200);
    const wrong = await fetch(`${keel.url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'writer', password: 'x' }) });
    expect(wrong.status).toBe(401);
    const refresh = await fetch(`${keel.url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x' }) });
    expect(refresh.status).toBe(400);
  });
});

describe('access control', () => {
  test('a writer pushes and pulls; a reader pulls but is DENIED a push with a clear message', async () => {
    const writer = as(await token(['repository:team/app:pull,push'], 'writer'));
    const image = await writer.pushImage('team/app', 'v1');
    const reader = as(await token(['repository:team/app:pull,push'], 'reader'));
    expect((await reader.fetch('/v2/team/app/manifests/v1')).headers.get('docker-content-digest')).toBe(image.digest);
    const push = await reader.fetch('/v2/team/app/blobs/uploads/', { method: 'POST' });
    expect(push.status).toBe(403);
    const body = (await push.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]?.code).toBe('DENIED');
    expect(body.errors[0]?.message).toMatch(/reader may not push team\/app/);
    // Its token was not issued for delete: the client is asked for one; with it, DENIED.
    const del = await reader.fetch(`/v2/team/app/manifests/${image.digest}`, { method: 'DELETE' });
    expect(del.status).toBe(401);
    expect(del.headers.get('www-authenticate')).toContain('scope="repository:team/app:delete",error="insufficient_scope"');
    const withDelete = as(await token(['repository:team/app:delete'], 'reader'));
    expect((await withDelete.fetch(`/v2/team/app/manifests/${image.digest}`, { method: 'DELETE' })).status).toBe(403);
  });

  test('anonymous pulls where a rule allows them, and nowhere else', async () => {
    const writer = as(await token(['repository:public/base:pull,push'], 'writer'));
    const image = await writer.pushImage('public/base', 'v1');
    const anon = as(await token(['repository:public/base:pull', 'repository:team/app:pull']));
    expect((await anon.fetch('/v2/public/base/manifests/v1')).headers.get('docker-content-digest')).toBe(image.digest);
    const refused = await anon.fetch('/v2/team/app/manifests/v1');
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { errors: Array<{ message: string }> }).errors[0]?.message).toBe('authentication required: anonymous may not pull team/app');
    expect((await anon.fetch('/v2/public/base/blobs/uploads/', { method: 'POST' })).status).toBe(401);
    const askedPush = as(await token(['repository:public/base:pull,push']));
    expect((await askedPush.fetch('/v2/public/base/blobs/uploads/', { method: 'POST' })).status).toBe(401);
    // Signing in never gives less than anonymous: a reader pulls public images too.
    const reader = as(await token(['repository:public/base:pull'], 'reader'));
    expect((await reader.fetch('/v2/public/base/manifests/v1')).status).toBe(200);
  });

  test('a token for one repository does not open another; the catalog shows what the user may pull', async () => {
    const writer = as(await token(['repository:secret/app:pull,push'], 'writer'));
    await writer.pushImage('secret/app', 'v1');
    const reader = as(await token(['repository:team/app:pull'], 'reader'));
    expect((await reader.fetch('/v2/secret/app/manifests/v1')).status).toBe(401);
    const catalog = await as(await token(['registry:catalog:*'], 'reader')).fetch('/v2/_catalog');
    expect(catalog.status).toBe(200);
    const listed = ((await catalog.json()) as { repositories: string[] }).repositories;
    expect(listed).toContain('team/app');
    expect(listed).not.toContain('secret/app');
    const anonCatalog = await as(await token(['registry:catalog:*'])).fetch('/v2/_catalog');
    expect(anonCatalog.status).toBe(401);
  });

  test('a mount from a repository the user may not pull is a plain upload instead', async () => {
    const writer = as(await token(['repository:secret/app:pull,push'], 'writer'));
    const { digest } = await writer.pushBlob('secret/app', randomBytes(100));
    const dev = as(await token(['repository:team/dev-one:pull,push', 'repository:secret/app:pull'], 'dev'));
    const res = await dev.fetch(`/v2/team/dev-one/blobs/uploads/?mount=${digest}&from=secret/app`, { method: 'POST' });
    expect(res.status).toBe(202);
  });
});

describe('tokens that must not work', () => {
  test('an expired token is refused with invalid_token', async () => {
    const t = await token(['repository:team/app:pull'], 'writer');
    expect((await as(t).fetch('/v2/team/app/tags/list')).status).toBe(200);
    clock.advance(6 * 60_000);
    const res = await as(t).fetch('/v2/team/app/tags/list');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  test('a token signed by another key is refused', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const now = Math.floor(clock.now() / 1000);
    const forged = await new SignJWT({ access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }] })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('keel')
      .setAudience('keel')
      .setSubject('writer')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(privateKey);
    const res = await as(forged).fetch('/v2/team/app/tags/list');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});

describe('the signing key', () => {
  test('is created on first start with mode 0600 and kept across restarts', async () => {
    const path = keel.config.auth.signing_key;
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const t = await token(['repository:team/app:pull'], 'writer');
    await keel.stop();
    keel = await startKeel({ root: keel.root, clock, toml: `[auth]\nhtpasswd = "htpasswd"\n` });
    expect((await as(t).fetch('/v2/team/app/tags/list')).status).toBe(200);
  });
});
