// The listings' JSON API (src/http/routes/browse.ts) against a real listening Keel: figures
// of pushed images, sorts and pages followed through `next` and the Link header, tags by
// date with image sizes, every bad parameter a 400 with an OCI error body, last pull times
// written at most once a minute per repository (ManualClock), and with auth on, a user sees
// only the repositories they may pull.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, errorCode } from '../support/oci-client.js';
import { rootWithUsers } from '../support/htpasswd.js';
import { keelToken } from '../support/tokens.js';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

interface Listed {
  name: string;
  tags: number;
  manifests: number;
  bytes: number;
  pushed_at: string | null;
  pulled_at: string | null;
}

interface Listing {
  store: string;
  repositories: Listed[];
  next: string | null;
}

async function listing(client: Client, query: string): Promise<Listing> {
  const res = await client.fetch(`/api/v1/repositories${query}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return (await res.json()) as Listing;
}

describe('with auth off', () => {
  let keel: KeelProcess;
  let client: Client;
  const clock = new ManualClock(T0);
  const pushed: Record<string, { digest: string; bytes: number }> = {};

  beforeAll(async () => {
    keel = await startKeel({ clock });
    client = new Client(keel.url);
    // Pushed one minute apart: beta/one, alpha/two, gamma/three.
    for (const [name, layerSize] of [['beta/one', 2000], ['alpha/two', 5000], ['gamma/three', 1000]] as const) {
      clock.advance(MINUTE);
      const image = await client.pushImage(name, 'v1', { layers: 1, layerSize });
      const manifestBytes = JSON.stringify(image.manifest).length;
      pushed[name] = { digest: image.digest, bytes: manifestBytes + image.blobs.reduce((sum, b) => sum + b.size, 0) };
    }
  });
  afterAll(() => keel.destroy());

  test('lists each repository with its figures, by name by default', async () => {
    const all = await listing(client, '');
    expect(all.store).toBe('local');
    expect(all.next).toBeNull();
    expect(all.repositories).toEqual([
      { name: 'alpha/two', tags: 1, manifests: 1, bytes: pushed['alpha/two']?.bytes, pushed_at: new Date(T0 + 2 * MINUTE).toISOString(), pulled_at: null },
      { name: 'beta/one', tags: 1, manifests: 1, bytes: pushed['beta/one']?.bytes, pushed_at: new Date(T0 + MINUTE).toISOString(), pulled_at: null },
      { name: 'gamma/three', tags: 1, manifests: 1, bytes: pushed['gamma/three']?.bytes, pushed_at: new Date(T0 + 3 * MINUTE).toISOString(), pulled_at: null },
    ]);
  });

  test('sorts and pages through next and the Link header; searches by substring', async () => {
    const names = (l: Listing): string[] => l.repositories.map((r) => r.name);
    const first = await listing(client, '?sort=pushed&n=2');
    expect(names(first)).toEqual(['gamma/three', 'alpha/two']);
    expect(first.next).not.toBeNull();
    const link = await client.fetch(`/api/v1/repositories?sort=pushed&n=2`);
    const header = link.headers.get('link');
    expect(header).toBe(`</api/v1/repositories?sort=pushed&n=2&cursor=${first.next as string}>; rel="next"`);
    const second = await listing(client, `?sort=pushed&n=2&cursor=${first.next as string}`);
    expect(names(second)).toEqual(['beta/one']);
    expect(second.next).toBeNull();
    expect(names(await listing(client, '?sort=size&order=asc'))).toEqual(['gamma/three', 'beta/one', 'alpha/two']);
    expect(names(await listing(client, '?sort=name&order=desc'))).toEqual(['gamma/three', 'beta/one', 'alpha/two']);
    expect(names(await listing(client, '?q=ALPHA'))).toEqual(['alpha/two']);
    expect(names(await listing(client, '?q=%2Fo'))).toEqual(['beta/one']);
    const proxy = await listing(client, '?store=proxy&sort=pulled');
    expect(proxy).toEqual({ store: 'proxy', repositories: [], next: null });
  });

  test("a repository's tags: newest first, by name, paged, with the image's size", async () => {
    const image = await client.pushImage('tagged/app', 'old', { layers: 2, layerSize: 100 });
    clock.advance(MINUTE);
    await client.pushManifest('tagged/app', 'new', image.manifest, 'application/vnd.oci.image.manifest.v1+json');
    clock.advance(MINUTE);
    await client.pushManifest('tagged/app', 'middle', image.manifest, 'application/vnd.oci.image.manifest.v1+json');
    const res = await client.fetch('/api/v1/tags/tagged/app?n=2');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { name: string; tags: Array<Record<string, unknown>>; next: string | null };
    expect(body.name).toBe('tagged/app');
    expect(body.tags.map((t) => t.tag)).toEqual(['middle', 'new']);
    const size = JSON.stringify(image.manifest).length;
    expect(body.tags[0]).toEqual({
      tag: 'middle',
      digest: image.digest,
      media_type: 'application/vnd.oci.image.manifest.v1+json',
      pushed_at: new Date(clock.now()).toISOString(),
      manifest_bytes: size,
      image_bytes: size + image.blobs.reduce((sum, b) => sum + b.size, 0),
    });
    expect(res.headers.get('link')).toBe(`</api/v1/tags/tagged/app?n=2&cursor=${body.next as string}>; rel="next"`);
    const rest = (await (await client.fetch(`/api/v1/tags/tagged/app?n=2&cursor=${body.next as string}`)).json()) as { tags: Array<{ tag: string }>; next: string | null };
    expect(rest.tags.map((t) => t.tag)).toEqual(['old']);
    expect(rest.next).toBeNull();
    const byName = (await (await client.fetch('/api/v1/tags/tagged/app?sort=name')).json()) as { tags: Array<{ tag: string }> };
    expect(byName.tags.map((t) => t.tag)).toEqual(['middle', 'new', 'old']);
  });

  test('bad parameters are 400 with an OCI error body, an unknown repository 404, other methods 405', async () => {
    const cases: Array<[string, number, string]> = [
      ['/api/v1/repositories?sort=bogus', 400, 'UNSUPPORTED'],
      ['/api/v1/repositories?order=up', 400, 'UNSUPPORTED'],
      ['/api/v1/repositories?store=elsewhere', 400, 'UNSUPPORTED'],
      ['/api/v1/repositories?store=proxy&sort=pushed', 400, 'UNSUPPORTED'],
      ['/api/v1/repositories?n=abc', 400, 'PAGINATION_NUMBER_INVALID'],
      ['/api/v1/repositories?n=0', 400, 'PAGINATION_NUMBER_INVALID'],
      ['/api/v1/repositories?n=-1', 400, 'PAGINATION_NUMBER_INVALID'],
      ['/api/v1/repositories?cursor=%7B%7D', 400, 'UNSUPPORTED'],
      ['/api/v1/repositories?cursor=eyJ4IjoxfQ', 400, 'UNSUPPORTED'],
      [`/api/v1/repositories?q=${'x'.repeat(300)}`, 400, 'UNSUPPORTED'],
      ['/api/v1/tags/tagged/app?sort=size', 400, 'UNSUPPORTED'],
      ['/api/v1/tags/tagged/app?cursor=zzz', 400, 'UNSUPPORTED'],
      ['/api/v1/tags/UPPER/case', 400, 'NAME_INVALID'],
      ['/api/v1/tags/', 400, 'NAME_INVALID'],
      ['/api/v1/tags/no/such', 404, 'NAME_UNKNOWN'],
    ];
    for (const [path, status, code] of cases) {
      const res = await client.fetch(path);
      expect({ path, status: res.status, code: await errorCode(res) }).toEqual({ path, status, code });
    }
    // A cursor of the pushed listing on the size listing: refused, not misread.
    const pushedPage = await listing(client, '?sort=pushed&n=1');
    const crossed = await client.fetch(`/api/v1/repositories?sort=size&n=1&cursor=${pushedPage.next as string}`);
    expect(crossed.status).toBe(400);
    expect(await errorCode(crossed)).toBe('UNSUPPORTED');
    const post = await client.fetch('/api/v1/repositories', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(await errorCode(post)).toBe('UNSUPPORTED');
  });

  test('last pull: a GET or HEAD that finds its manifest records it, at most one write a minute per repository', async () => {
    const pulledAt = async (name: string): Promise<string | null> => {
      await keel.running.pulls.settled();
      return (await listing(client, `?q=${name}`)).repositories.find((r) => r.name === name)?.pulled_at ?? null;
    };
    expect(await pulledAt('beta/one')).toBeNull();
    // An unknown tag is no pull.
    expect((await client.fetch('/v2/beta/one/manifests/nope')).status).toBe(404);
    expect(await pulledAt('beta/one')).toBeNull();
    const start = clock.now();
    expect((await client.fetch('/v2/beta/one/manifests/v1')).status).toBe(200);
    expect(await pulledAt('beta/one')).toBe(new Date(start).toISOString());
    // Within the minute: HEAD and GET by digest are pulls, but write nothing more.
    clock.advance(30_000);
    expect((await client.fetch('/v2/beta/one/manifests/v1', { method: 'HEAD' })).status).toBe(200);
    expect((await client.fetch(`/v2/beta/one/manifests/${pushed['beta/one']?.digest as string}`)).status).toBe(200);
    expect(await pulledAt('beta/one')).toBe(new Date(start).toISOString());
    // Another repository is written at once, on its own.
    expect((await client.fetch('/v2/alpha/two/manifests/v1', { method: 'HEAD' })).status).toBe(200);
    expect(await pulledAt('alpha/two')).toBe(new Date(start + 30_000).toISOString());
    // A minute after the write: the next pull writes again.
    clock.advance(30_000);
    expect((await client.fetch(`/v2/beta/one/manifests/${pushed['beta/one']?.digest as string}`, { method: 'HEAD' })).status).toBe(200);
    expect(await pulledAt('beta/one')).toBe(new Date(start + MINUTE).toISOString());
    const byPull = await listing(client, '?sort=pulled');
    expect(byPull.repositories.slice(0, 2).map((r) => r.name)).toEqual(['beta/one', 'alpha/two']);
  });
});

describe('with auth on', () => {
  let keel: KeelProcess;
  const users = { admin: 'a-pass', alice: 'al-pass' };
  const basic = (user: keyof typeof users): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(`${user}:${users[user]}`).toString('base64')}` });

  beforeAll(async () => {
    const root = await rootWithUsers('keel-browse-auth', users);
    keel = await startKeel({
      root,
      toml: `
[auth]
htpasswd = "htpasswd"

[[auth.access]]
repository = "**"
users = ["admin"]
actions = ["pull", "push", "delete"]

[[auth.access]]
repository = "team-a/**"
users = ["alice"]
actions = ["pull"]
`,
    });
    const token = await keelToken(keel.url, ['repository:team-a/app:pull,push', 'repository:team-b/secret:pull,push', 'repository:team-a/lib:pull,push'], { username: 'admin', password: users.admin });
    const pusher = new Client(keel.url, { Authorization: `Bearer ${token}` });
    for (const name of ['team-a/app', 'team-b/secret', 'team-a/lib']) await pusher.pushImage(name, 'v1', { layers: 1 });
  });
  afterAll(() => keel.destroy());

  test('a user sees only the repositories they may pull, on every page; others are refused', async () => {
    const alice = new Client(keel.url, basic('alice'));
    const all = await listing(new Client(keel.url, basic('admin')), '');
    expect(all.repositories.map((r) => r.name)).toEqual(['team-a/app', 'team-a/lib', 'team-b/secret']);
    const first = await listing(alice, '?n=1');
    expect(first.repositories.map((r) => r.name)).toEqual(['team-a/app']);
    const second = await listing(alice, `?n=1&cursor=${first.next as string}`);
    expect(second.repositories.map((r) => r.name)).toEqual(['team-a/lib']);
    expect(second.next).toBeNull();
    expect((await listing(alice, '?q=secret')).repositories).toEqual([]);
    // A Bearer token (the catalog scope only) is read the same way: the rules decide.
    const token = await keelToken(keel.url, ['registry:catalog:*'], { username: 'alice', password: users.alice });
    expect((await listing(new Client(keel.url, { Authorization: `Bearer ${token}` }), '')).repositories.map((r) => r.name)).toEqual(['team-a/app', 'team-a/lib']);

    expect((await alice.fetch('/api/v1/tags/team-a/app')).status).toBe(200);
    const hidden = await alice.fetch('/api/v1/tags/team-b/secret');
    expect(hidden.status).toBe(403);
    expect(await errorCode(hidden)).toBe('DENIED');
    // Refused alike whether the repository exists or not: a refusal reveals nothing.
    const absent = await alice.fetch('/api/v1/tags/team-b/absent');
    expect(absent.status).toBe(403);

    const none = await fetch(`${keel.url}/api/v1/repositories`);
    expect(none.status).toBe(401);
    expect(await errorCode(none)).toBe('UNAUTHORIZED');
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    const wrong = await fetch(`${keel.url}/api/v1/repositories`, { headers: { Authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` } });
    expect(wrong.status).toBe(401);
    const anonymous = await keelToken(keel.url, []);
    const anon = await fetch(`${keel.url}/api/v1/repositories`, { headers: { Authorization: `Bearer ${anonymous}` } });
    expect(anon.status).toBe(401);
  });
});
