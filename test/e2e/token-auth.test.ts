// Proves the token-auth harness: Distribution 2.8 with `auth: token` trusts the JWTs of the
// e2e token server (token-server.ts) and nothing else, so proxy tests can point Keel at an
// upstream that challenges with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Cleanup } from '../support/e2e/cleanup.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { OciLayout, sha256, type BuiltImage } from '../support/e2e/images.js';
import { decodeJwt, signJwt } from '../support/e2e/jwt.js';
import { sleep } from '../support/e2e/processes.js';
import { createSigningKey, type SigningKey } from '../support/e2e/signing-key.js';
import { createSkopeo, type Skopeo } from '../support/e2e/skopeo.js';
import { makeTempDir } from '../support/e2e/temp-dir.js';
import { startTokenServer, type TokenServer } from '../support/e2e/token-server.js';
import { ensureTools, TOOL_INSTALL_TIMEOUT_MS } from '../support/e2e/tools.js';
import { fetchBody } from '../support/fetch-body.js';

/** Distribution 2.8 registry/auth/token/token.go: `Leeway = 60 * time.Second` on exp and nbf. */
const LEEWAY_SECONDS = 60;

const creds = { username: 'keel', password: 'e2e token pass' };
const cleanup = new Cleanup();
let tokens: TokenServer;
let registry: Distribution;
let skopeo: Skopeo;
let layout: OciLayout;
let image: BuiltImage;
let rogue: SigningKey;

interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

const basic = (c: { username: string; password: string }): string =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

/** The parameters of a `WWW-Authenticate: Bearer k="v",...` challenge. */
function bearerChallenge(res: Response): Record<string, string> {
  const header = res.headers.get('www-authenticate') ?? '';
  expect(header).toMatch(/^Bearer /);
  return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

async function fetchToken(server: TokenServer, scopes: string[], credentials?: typeof creds): Promise<TokenResponse> {
  const url = new URL(server.realm);
  url.searchParams.set('service', server.service);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  const res = await fetch(url, { headers: credentials === undefined ? {} : { Authorization: basic(credentials) } });
  expect(res.status).toBe(200);
  return (await res.json()) as TokenResponse;
}

async function blob(digest: string): Promise<Buffer> {
  return readFile(layout.blobPath(digest));
}

/** Monolithic upload in two steps (POST, then PUT with the digest), as Distribution 2.8 takes it. */
async function pushBlob(repo: string, digest: string, token: string): Promise<Response> {
  const start = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: bearer(token) });
  if (start.status !== 202) return start;
  const location = new URL(start.headers.get('location') ?? '', registry.url);
  location.searchParams.set('digest', digest);
  return fetch(location, {
    method: 'PUT',
    headers: { ...bearer(token), 'Content-Type': 'application/octet-stream' },
    body: fetchBody(await blob(digest)),
  });
}

beforeAll(async () => {
  await ensureTools(['docker-registry', 'openssl', 'skopeo']);
  tokens = cleanup.add('token server', await startTokenServer({ credentials: creds, allowAnonymous: true }), (t) => t.stop());
  registry = cleanup.add('distribution (token auth)', await startDistribution({ tokenAuth: tokens.tokenAuth }), (r) => r.stop());
  skopeo = cleanup.add('skopeo', await createSkopeo(), (s) => s.remove());
  layout = cleanup.add('oci layout', await OciLayout.create(), (l) => l.remove());
  image = await layout.addImage({ layers: 1, layerSize: 4096, tag: 'v1' });
  const rogueDir = cleanup.add('rogue key dir', await makeTempDir('rogue'), (d) => d.remove());
  rogue = await createSigningKey({ dir: rogueDir.path, name: 'rogue' });
}, TOOL_INSTALL_TIMEOUT_MS + 120_000);

afterAll(async () => {
  await cleanup.run();
});

describe('Distribution with token auth', () => {
  test('an anonymous request gets 401 with a Bearer challenge naming the realm', async () => {
    const base = await fetch(`${registry.url}/v2/`);
    expect(base.status).toBe(401);
    expect(bearerChallenge(base)).toEqual({ realm: tokens.realm, service: tokens.service });

    const manifest = await fetch(`${registry.url}/v2/e2e/anything/manifests/latest`);
    expect(manifest.status).toBe(401);
    expect(bearerChallenge(manifest)).toEqual({ realm: tokens.realm, service: tokens.service, scope: 'repository:e2e/anything:pull' });
  });

  test('a token from the realm opens GET /v2/, with or without credentials; wrong credentials get none', async () => {
    const issuedBefore = tokens.issued;
    const requestsBefore = tokens.requests.length;
    const body = await fetchToken(tokens, [], creds);
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBe(300);
    expect(body.issued_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const { header, claims } = decodeJwt(body.token);
    expect(header).toEqual({ typ: 'JWT', alg: 'RS256', x5c: tokens.key.x5c });
    expect(claims).toMatchObject({ iss: tokens.issuer, sub: creds.username, aud: tokens.service, access: [] });
    expect(claims.exp - claims.iat).toBe(300);
    expect(claims.nbf).toBe(claims.iat);
    expect(Date.parse(body.issued_at) / 1000).toBe(claims.iat);

    expect((await fetch(`${registry.url}/v2/`, { headers: bearer(body.token) })).status).toBe(200);
    const anonymous = await fetchToken(tokens, []);
    expect(decodeJwt(anonymous.token).claims.sub).toBe('');
    expect((await fetch(`${registry.url}/v2/`, { headers: bearer(anonymous.token) })).status).toBe(200);

    const wrong = await fetch(`${tokens.realm}?service=${tokens.service}`, {
      headers: { Authorization: basic({ ...creds, password: 'wrong' }) },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic /);

    expect(tokens.issued).toBe(issuedBefore + 2);
    expect(tokens.requests.slice(requestsBefore).map((r) => [r.basicAuth, r.username, r.status])).toEqual([
      [true, creds.username, 200],
      [false, undefined, 200],
      [true, creds.username, 401],
    ]);
  });

  test('a push-scoped token pushes a blob and a manifest; an anonymous one gets pull only', async () => {
    const repo = 'e2e/manual';
    const scope = `repository:${repo}:pull,push`;
    const anonymous = await fetchToken(tokens, [scope]);
    expect(decodeJwt(anonymous.token).claims.access).toEqual([{ type: 'repository', name: repo, actions: ['pull'] }]);
    const denied = await pushBlob(repo, image.config.digest, anonymous.token);
    expect(denied.status).toBe(401);
    const challenge = bearerChallenge(denied);
    expect(challenge).toMatchObject({ error: 'insufficient_scope' });
    // Distribution lists the actions in no fixed order ("pull,push" or "push,pull").
    const [type, name, actions] = (challenge.scope ?? '').split(':');
    expect([type, name, actions?.split(',').sort()]).toEqual(['repository', repo, ['pull', 'push']]);

    const { token } = await fetchToken(tokens, [scope], creds);
    expect(decodeJwt(token).claims.access).toEqual([{ type: 'repository', name: repo, actions: ['pull', 'push'] }]);
    for (const digest of [image.config.digest, ...image.layers.map((l) => l.descriptor.digest)]) {
      const put = await pushBlob(repo, digest, token);
      expect(put.status).toBe(201);
      expect(put.headers.get('docker-content-digest')).toBe(digest);
    }
    const put = await fetch(`${registry.url}/v2/${repo}/manifests/v1`, {
      method: 'PUT',
      headers: { ...bearer(token), 'Content-Type': image.manifest.mediaType },
      body: fetchBody(image.manifestBytes),
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(image.manifest.digest);

    // Pulling back needs only pull: the anonymous token will do.
    const got = await fetch(`${registry.url}/v2/${repo}/manifests/v1`, {
      headers: { ...bearer(anonymous.token), Accept: image.manifest.mediaType },
    });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer())).toEqual(image.manifestBytes);
  });

  test('skopeo follows the Bearer challenge with --dest-creds', async () => {
    const target = `docker://${registry.host}/e2e/skopeo:v1`;
    const before = tokens.requests.length;
    await skopeo.copy(layout.ref('v1'), target, { destCredentials: creds, preserveDigests: true });
    const pushed = tokens.requests.slice(before);
    expect(pushed.length).toBeGreaterThan(0);
    expect(pushed.every((r) => r.status === 200 && r.basicAuth && r.service === tokens.service)).toBe(true);
    expect(pushed.flatMap((r) => r.scopes)).toContain('repository:e2e/skopeo:pull,push');
    expect(sha256(await skopeo.inspectRaw(target, { credentials: creds }))).toBe(image.manifest.digest);

    // Anonymous clients are granted pull only, so an anonymous push fails.
    await expect(skopeo.copy(layout.ref('v1'), `docker://${registry.host}/e2e/skopeo:anonymous`)).rejects.toThrow(
      /unauthorized|authentication required|denied/i,
    );
  });

  test('tokens the registry must not trust are refused', async () => {
    const access = [{ type: 'repository', name: 'e2e/manual', actions: ['pull'] }];
    const path = `${registry.url}/v2/e2e/manual/manifests/v1`;
    const status = async (token: string): Promise<number> =>
      (await fetch(path, { headers: { ...bearer(token), Accept: image.manifest.mediaType } })).status;
    const good = tokens.mint({ access });
    expect(await status(good)).toBe(200);

    const { claims } = decodeJwt(good);
    // Each refusal is checked against the reason Distribution logs, so a token refused for
    // the wrong reason (a harness bug) cannot pass.
    const cases: [string, string][] = [
      // Signed by another key that presents its own, untrusted, certificate.
      [signJwt({ typ: 'JWT', alg: rogue.alg, x5c: rogue.x5c }, claims, rogue.privateKey), 'unable to verify certificate chain'],
      // Signed by another key that claims the trusted certificate.
      [signJwt({ typ: 'JWT', alg: rogue.alg, x5c: tokens.key.x5c }, claims, rogue.privateKey), 'unable to verify token signature'],
      [tokens.mint({ access, issuer: 'someone-else' }), 'token from untrusted issuer'],
      [tokens.mint({ access, audience: 'another-registry' }), 'token intended for another audience'],
    ];
    for (const [token, reason] of cases) {
      const logBefore = (await readFile(registry.process.logFile, 'utf8')).length;
      const res = await fetch(path, { headers: bearer(token) });
      expect(res.status).toBe(401);
      expect(bearerChallenge(res)).toMatchObject({ realm: tokens.realm, error: 'invalid_token' });
      expect((await readFile(registry.process.logFile, 'utf8')).slice(logBefore)).toContain(reason);
    }
  });
});

describe('Distribution with short-lived tokens', () => {
  // The token server's clock runs `offsetMs` away from the registry's (real) one.
  let offsetMs = 0;
  let shortTokens: TokenServer;
  let shortRegistry: Distribution;

  beforeAll(async () => {
    shortTokens = cleanup.add(
      'token server (2 s)',
      // P-256 here (ES256), RSA above (RS256): Distribution must take both.
      await startTokenServer({ tokenLifetimeSeconds: 2, keyType: 'ec', clock: () => Date.now() + offsetMs }),
      (t) => t.stop(),
    );
    shortRegistry = cleanup.add('distribution (2 s tokens)', await startDistribution({ tokenAuth: shortTokens.tokenAuth }), (r) => r.stop());
  }, 60_000);

  const status = async (token: string): Promise<number> => (await fetch(`${shortRegistry.url}/v2/`, { headers: bearer(token) })).status;

  test(`exp is enforced, with ${LEEWAY_SECONDS} s of leeway`, async () => {
    offsetMs = 0;
    const fresh = await fetchToken(shortTokens, []);
    expect(fresh.expires_in).toBe(2);
    expect(decodeJwt(fresh.token).header.alg).toBe('ES256');
    expect(await status(fresh.token)).toBe(200);
    // Past its lifetime but within the leeway: still accepted.
    await sleep(3_000);
    expect(await status(fresh.token)).toBe(200);

    // A token issued 30 s ago expired 28 s ago: inside the leeway, accepted.
    offsetMs = -30_000;
    const inLeeway = await fetchToken(shortTokens, []);
    expect(await status(inLeeway.token)).toBe(200);

    // Issued (LEEWAY + 30) s ago: expired (LEEWAY + 28) s ago, refused.
    offsetMs = -(LEEWAY_SECONDS + 30) * 1000;
    const stale = await fetchToken(shortTokens, []);
    const res = await fetch(`${shortRegistry.url}/v2/`, { headers: bearer(stale.token) });
    expect(res.status).toBe(401);
    expect(bearerChallenge(res)).toMatchObject({ realm: shortTokens.realm, error: 'invalid_token' });
    expect(await readFile(shortRegistry.process.logFile, 'utf8')).toContain('token not to be used after');
    offsetMs = 0;
    expect(shortTokens.issued).toBe(3);
  });
});
