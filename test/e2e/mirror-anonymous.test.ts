// Mirror mode with auth on, for callers that may not pull the local name: a Docker daemon's
// `registry-mirrors` pulls plain names anonymously, and the shipped rules let anonymous pull
// `proxy/**` only. Such a caller gets what the mirror serves (authorized against
// `proxy/<upstream>/<name>`), and never anything of a local repository.
// Upstream: Debian's docker-registry (CNCF Distribution 2.8) on loopback, anonymous, as `hub`
// (`[mirror] upstream = "hub"`): library/app, and library/private, a decoy of the local one.
// Keel: alice may do everything, anonymous may pull proxy/**, bob has no rule of his own.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, errorCode, OCI_MANIFEST, sha256 } from '../support/oci-client.js';
import { rootWithUsers } from '../support/htpasswd.js';
import { keelToken } from '../support/tokens.js';

interface User {
  username: string;
  password: string;
}
interface Image {
  digest: string;
  blobs: Array<{ digest: string }>;
}

const ALICE: User = { username: 'alice', password: 'alice-pass' };
const BOB: User = { username: 'bob', password: 'bob-pass' };
let hub: Distribution;
let keel: KeelProcess;
let app: Image;
let localPrivate: Image;
let decoy: Image;
let decoyV2: Image;

/** A token from Keel's token service for pull (and more) on `repo`, as docker asks for it. */
function tokenFor(repo: string, user?: User, actions = 'pull'): Promise<string> {
  return keelToken(keel.url, [`repository:${repo}:${actions}`], user);
}

async function clientFor(repo: string, user?: User, actions = 'pull'): Promise<Client> {
  return new Client(keel.url, { Authorization: `Bearer ${await tokenFor(repo, user, actions)}` });
}

/** The `access` claim of a token (its payload is not encrypted). */
function accessOf(token: string): unknown {
  const payload = token.split('.')[1] as string;
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { access: unknown }).access;
}

/** Every request Keel made to the upstream for `repo`. */
async function upstreamRequests(repo: string): Promise<number> {
  let n = 0;
  for (const method of ['GET', 'HEAD']) n += await countRequests(hub, method, `/v2/${repo}/`);
  return n;
}

/** GET of a manifest and of every blob it names, as a pull does: each blob 'ok' when it came whole, else its status. */
async function pull(client: Client, repo: string, reference: string, query = ''): Promise<{ status: number; digest: string | null; blobs: Array<string | number> }> {
  const res = await client.fetch(`/v2/${repo}/manifests/${reference}${query}`, { headers: { Accept: OCI_MANIFEST } });
  if (res.status !== 200) return { status: res.status, digest: null, blobs: [] };
  const manifest = (await res.json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
  const blobs: Array<string | number> = [];
  for (const { digest } of [manifest.config, ...manifest.layers]) {
    const blob = await client.fetch(`/v2/${repo}/blobs/${digest}${query}`);
    const bytes = Buffer.from(await blob.arrayBuffer());
    blobs.push(blob.status !== 200 ? blob.status : sha256(bytes) === digest ? 'ok' : 'wrong bytes');
  }
  return { status: res.status, digest: res.headers.get('docker-content-digest'), blobs };
}

beforeAll(async () => {
  await ensureTools(['docker-registry']);
  hub = await startDistribution();
  const upstream = new Client(hub.url);
  app = await upstream.pushImage('library/app', 'v1');
  decoy = await upstream.pushImage('library/private', 'v1');
  decoyV2 = await upstream.pushImage('library/private', 'v2');

  const root = await rootWithUsers('keel-mirror-anon', { [ALICE.username]: ALICE.password, [BOB.username]: BOB.password });
  keel = await startKeel({
    root,
    toml: `
[auth]
htpasswd = "htpasswd"

[[auth.access]]
repository = "**"
users = ["alice"]
actions = ["pull", "push", "delete"]

[[auth.access]]
repository = "proxy/**"
users = ["anonymous"]
actions = ["pull"]

[proxy.upstreams.hub]
url = "${hub.url}"
allow_private = true
timeout = "5s"

[mirror]
upstream = "hub"
`,
  });
  localPrivate = await (await clientFor('library/private', ALICE, 'pull,push')).pushImage('library/private', 'v1');
}, 300_000);

afterAll(async () => {
  await keel?.destroy();
  await hub?.stop();
});

describe('anonymous pulls in mirror mode', () => {
  test("docker's token flow: anonymous pulls a name only the upstream has, and the token grants nothing on the local name", async () => {
    const base = await fetch(`${keel.url}/v2/`);
    expect(base.status).toBe(401);
    expect(base.headers.get('www-authenticate')).toContain(`realm="${keel.url}/token"`);
    const token = await tokenFor('library/app');
    expect(accessOf(token)).toEqual([{ type: 'repository', name: 'library/app', actions: [], refused: ['pull'] }]);
    const anon = new Client(keel.url, { Authorization: `Bearer ${token}` });
    expect((await anon.fetch('/v2/')).status).toBe(200);

    expect(await pull(anon, 'library/app', 'v1')).toEqual({ status: 200, digest: app.digest, blobs: app.blobs.map(() => 'ok') });
    expect(await pull(anon, 'library/app', app.digest)).toEqual({ status: 200, digest: app.digest, blobs: app.blobs.map(() => 'ok') });
    const head = await anon.fetch('/v2/library/app/manifests/v1', { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
    expect([head.status, head.headers.get('docker-content-digest')]).toEqual([200, app.digest]);
    const tags = await anon.fetch('/v2/library/app/tags/list');
    expect([tags.status, await tags.json()]).toEqual([200, { name: 'library/app', tags: ['v1'] }]);
    expect(await upstreamRequests('library/app')).toBeGreaterThan(0);

    // HEAD of a blob is a pushing client's question, never mirrored; writes are refused as before.
    const blobHead = await anon.fetch(`/v2/library/app/blobs/${(app.blobs[0] as { digest: string }).digest}`, { method: 'HEAD' });
    expect(blobHead.status).toBe(401);
    const upload = await anon.fetch('/v2/library/app/blobs/uploads/', { method: 'POST' });
    expect([upload.status, await errorCode(upload)]).toEqual([401, 'UNAUTHORIZED']);
  });

  test('anonymous is refused a local private repository, even for what only the upstream decoy of that name has', async () => {
    // Mirroring works for anonymous (as above)...
    expect((await pull(await clientFor('library/app'), 'library/app', 'v1')).status).toBe(200);
    // ...but not under a name the local registry has: nothing of it, and not the upstream's either.
    const anon = await clientFor('library/private');
    for (const query of ['', '?ns=hub']) {
      for (const reference of ['v1', 'v2', localPrivate.digest, decoy.digest, decoyV2.digest]) {
        const res = await anon.fetch(`/v2/library/private/manifests/${reference}${query}`, { headers: { Accept: OCI_MANIFEST } });
        expect([reference, res.status, await errorCode(res)]).toEqual([reference, 401, 'UNAUTHORIZED']);
        expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${keel.url}/token",service="keel",scope="repository:library/private:pull",error="insufficient_scope"`);
        expect(res.headers.get('docker-content-digest')).toBeNull();
        const head = await anon.fetch(`/v2/library/private/manifests/${reference}${query}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
        expect([reference, head.status]).toEqual([reference, 401]);
      }
      for (const { digest } of [...localPrivate.blobs, ...decoy.blobs]) {
        const res = await anon.fetch(`/v2/library/private/blobs/${digest}${query}`);
        expect([digest, res.status, await errorCode(res)]).toEqual([digest, 401, 'UNAUTHORIZED']);
      }
      const tags = await anon.fetch(`/v2/library/private/tags/list${query}`);
      expect([tags.status, await errorCode(tags)]).toEqual([401, 'UNAUTHORIZED']);
    }
    expect(await upstreamRequests('library/private')).toBe(0);
    // A name neither has is refused the same way (not told apart from a local one by a 404).
    const none = await (await clientFor('library/nothing')).fetch('/v2/library/nothing/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
    expect([none.status, await errorCode(none)]).toEqual([401, 'UNAUTHORIZED']);
  });

  test("a signed-in user's local access is unchanged; one without it gets mirrored names like anonymous and 403 for local ones", async () => {
    const alice = await clientFor('library/private', ALICE);
    expect(await pull(alice, 'library/private', 'v1')).toEqual({ status: 200, digest: localPrivate.digest, blobs: localPrivate.blobs.map(() => 'ok') });
    const aliceTags = await alice.fetch('/v2/library/private/tags/list');
    expect(await aliceTags.json()).toEqual({ name: 'library/private', tags: ['v1'] });

    const bobApp = await clientFor('library/app', BOB);
    expect(await pull(bobApp, 'library/app', 'v1')).toEqual({ status: 200, digest: app.digest, blobs: app.blobs.map(() => 'ok') });
    const bob = await clientFor('library/private', BOB);
    for (const reference of ['v1', 'v2']) {
      const res = await bob.fetch(`/v2/library/private/manifests/${reference}`, { headers: { Accept: OCI_MANIFEST } });
      expect([reference, res.status, await errorCode(res)]).toEqual([reference, 403, 'DENIED']);
    }
    const blob = await bob.fetch(`/v2/library/private/blobs/${(localPrivate.blobs[0] as { digest: string }).digest}`);
    expect([blob.status, await errorCode(blob)]).toEqual([403, 'DENIED']);
    expect(await upstreamRequests('library/private')).toBe(0);
  });
});
