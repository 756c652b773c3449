// Mirror mode with auth on: a mirrored read serves `proxy/<upstream>/<name>` under a plain
// local name, so the access rules are checked against that name too, whether `?ns=` picked
// the upstream or `[mirror] upstream` did. Two upstreams, Debian's docker-registry (CNCF
// Distribution 2.8) on loopback:
//   priv   private (htpasswd; Keel has the credentials): library/internal
//   hub    anonymous, the mirror's default upstream: library/app, other/thing
// Rules: anonymous may pull library/**, other/**, proxy/hub/library/** and
// proxy/priv/public/**; alice may pull proxy/priv/** and pull and push public/**.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, errorCode, OCI_MANIFEST } from '../support/oci-client.js';
import { rootWithUsers } from '../support/htpasswd.js';

const UPSTREAM_CREDS = { username: 'keel', password: 'upstream-secret' };
const ALICE = { username: 'alice', password: 'alice-pass' };
const clock = new ManualClock();
let priv: Distribution;
let hub: Distribution;
let keel: KeelProcess;
let internal: { digest: string; blobs: Array<{ digest: string }> };
let app: { digest: string };

async function clientFor(repo: string, user?: { username: string; password: string }, actions = 'pull'): Promise<Client> {
  const headers: Record<string, string> = user ? { Authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}` } : {};
  const res = await fetch(`${keel.url}/token?service=keel&scope=${encodeURIComponent(`repository:${repo}:${actions}`)}`, { headers });
  expect(res.status).toBe(200);
  return new Client(keel.url, { Authorization: `Bearer ${((await res.json()) as { token: string }).token}` });
}

/** Every request Keel made to `upstream` for `repo` (its access log, any method). */
async function requestsFor(upstream: Distribution, repo: string): Promise<number> {
  let n = 0;
  for (const method of ['GET', 'HEAD']) n += await countRequests(upstream, method, `/v2/${repo}/`);
  return n;
}

beforeAll(async () => {
  await ensureTools(['docker-registry', 'htpasswd']);
  [priv, hub] = await Promise.all([startDistribution({ auth: UPSTREAM_CREDS }), startDistribution()]);
  const privClient = new Client(priv.url, { Authorization: `Basic ${Buffer.from(`${UPSTREAM_CREDS.username}:${UPSTREAM_CREDS.password}`).toString('base64')}` });
  internal = await privClient.pushImage('library/internal', 'v1');
  app = await new Client(hub.url).pushImage('library/app', 'v1');
  await new Client(hub.url).pushImage('other/thing', 'v1');

  const root = await rootWithUsers('keel-mirror-auth', { [ALICE.username]: ALICE.password });
  const rule = (repository: string, users: string): string => `[[auth.access]]\nrepository = "${repository}"\nusers = ["${users}"]\nactions = ["pull"]\n`;
  keel = await startKeel({
    root,
    clock,
    toml: `
[auth]
htpasswd = "htpasswd"

${rule('library/**', 'anonymous')}
${rule('other/**', 'anonymous')}
${rule('proxy/hub/library/**', 'anonymous')}
${rule('proxy/priv/public/**', 'anonymous')}
${rule('proxy/priv/**', 'alice')}
[[auth.access]]
repository = "public/**"
users = ["alice"]
actions = ["pull", "push"]

[proxy.upstreams.priv]
url = "${priv.url}"
allow_private = true
timeout = "5s"
username = "${UPSTREAM_CREDS.username}"
password = "${UPSTREAM_CREDS.password}"

[proxy.upstreams.hub]
url = "${hub.url}"
allow_private = true
timeout = "5s"

[mirror]
upstream = "hub"
`,
  });
}, 300_000);

afterAll(async () => {
  await keel?.destroy();
  await Promise.all([priv?.stop(), hub?.stop()]);
});

describe('mirrored reads and the access rules', () => {
  test('?ns= naming a private upstream is refused to whom proxy/<ns>/<name> is refused: the local answer stands, the upstream is not asked', async () => {
    const anon = await clientFor('library/internal');
    const manifest = await anon.fetch('/v2/library/internal/manifests/v1?ns=priv', { headers: { Accept: OCI_MANIFEST } });
    expect([manifest.status, await errorCode(manifest)]).toEqual([404, 'MANIFEST_UNKNOWN']);
    const head = await anon.fetch(`/v2/library/internal/manifests/${internal.digest}?ns=priv`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
    expect(head.status).toBe(404);
    for (const blob of internal.blobs) {
      const res = await anon.fetch(`/v2/library/internal/blobs/${blob.digest}?ns=priv`);
      expect([blob.digest, res.status, await errorCode(res)]).toEqual([blob.digest, 404, 'BLOB_UNKNOWN']);
    }
    const tags = await anon.fetch('/v2/library/internal/tags/list?ns=priv');
    expect([tags.status, await errorCode(tags)]).toEqual([404, 'NAME_UNKNOWN']);
    // The same as asking for it by its proxied name, which anonymous may not.
    const direct = await anon.fetch('/v2/proxy/priv/library/internal/manifests/v1');
    expect(direct.status).toBe(401);
    expect(await requestsFor(priv, 'library/internal')).toBe(0);
  });

  test('a user allowed proxy/<ns>/<name> gets the mirrored read', async () => {
    const alice = await clientFor('library/internal', ALICE);
    const res = await alice.fetch('/v2/library/internal/manifests/v1?ns=priv', { headers: { Accept: OCI_MANIFEST } });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(internal.digest);
    const blob = internal.blobs[0] as { digest: string };
    expect((await alice.fetch(`/v2/library/internal/blobs/${blob.digest}?ns=priv`)).status).toBe(200);
    const tags = await alice.fetch('/v2/library/internal/tags/list?ns=priv');
    expect(((await tags.json()) as { tags: string[] }).tags).toEqual(['v1']);
  });

  test('pull on the proxied name is enough for a caller refused the local name, until a local repository has that name', async () => {
    const privClient = new Client(priv.url, { Authorization: `Basic ${Buffer.from(`${UPSTREAM_CREDS.username}:${UPSTREAM_CREDS.password}`).toString('base64')}` });
    const tool = await privClient.pushImage('public/tool', 'v1');
    // Anonymous may pull proxy/priv/public/tool, but not the local name public/tool: the mirror serves it.
    const anon = await clientFor('public/tool');
    const mirrored = await anon.fetch('/v2/public/tool/manifests/v1?ns=priv', { headers: { Accept: OCI_MANIFEST } });
    expect([mirrored.status, mirrored.headers.get('docker-content-digest')]).toEqual([200, tool.digest]);
    // Once the local registry has public/tool, it is not served to anonymous, nor replaced by the upstream's.
    const alicePush = await clientFor('public/tool', ALICE, 'pull,push');
    await alicePush.pushImage('public/tool', 'local');
    for (const reference of ['v1', 'local']) {
      const res = await anon.fetch(`/v2/public/tool/manifests/${reference}?ns=priv`, { headers: { Accept: OCI_MANIFEST } });
      expect([reference, res.status, await errorCode(res)]).toEqual([reference, 401, 'UNAUTHORIZED']);
    }
  });

  test('the default upstream is checked the same way: proxy/<mirror.upstream>/<name>', async () => {
    const anon = await clientFor('library/app');
    const res = await anon.fetch('/v2/library/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(app.digest);
    // other/** is allowed locally, but proxy/hub/other/** is not.
    const other = await clientFor('other/thing');
    const refused = await other.fetch('/v2/other/thing/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
    expect([refused.status, await errorCode(refused)]).toEqual([404, 'MANIFEST_UNKNOWN']);
    expect(await requestsFor(hub, 'other/thing')).toBe(0);
    // Refused both the local name and the proxied one: the refusal, and the upstream is not asked.
    await new Client(hub.url).pushImage('third/party', 'v1');
    const third = await clientFor('third/party');
    for (const path of ['/v2/third/party/manifests/v1', '/v2/third/party/manifests/v1?ns=hub', '/v2/third/party/tags/list']) {
      const res = await third.fetch(path, { headers: { Accept: OCI_MANIFEST } });
      expect([path, res.status, await errorCode(res)]).toEqual([path, 401, 'UNAUTHORIZED']);
    }
    expect(await requestsFor(hub, 'third/party')).toBe(0);
  });
});
