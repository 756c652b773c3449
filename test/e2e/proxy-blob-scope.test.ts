// Cached proxy blobs are shared by every repository of an upstream on disk (one file per
// digest), but served only to a repository the upstream showed has them. The upstream is
// Debian's docker-registry (CNCF Distribution 2.8) with htpasswd auth, on loopback; Keel has
// its credentials, so Keel can read every repository there, and Keel's access rules decide
// who may read what through proxy/priv/...:
//   alice       pull on proxy/priv/secret/**
//   anonymous   pull on proxy/priv/public/**
// What Keel asked the upstream for is counted from the upstream's own access log.
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, errorCode, OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';
import { rootWithUsers } from '../support/htpasswd.js';

const UPSTREAM_CREDS = { username: 'keel', password: 'upstream-secret' };
const ALICE = { username: 'alice', password: 'alice-pass' };
const clock = new ManualClock();
let upstream: Distribution;
let up: Client;
let keel: KeelProcess;
let secret: { digest: string; manifest: object; blobs: Array<{ digest: string; size: number }> };
/** The bytes of the secret image's blobs, as alice pulled them through Keel. */
const secretBytes = new Map<string, Buffer>();

async function token(scope: string, user?: { username: string; password: string }): Promise<string> {
  const headers: Record<string, string> = user ? { Authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}` } : {};
  const res = await fetch(`${keel.url}/token?service=keel&scope=${encodeURIComponent(scope)}`, { headers });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

async function clientFor(repo: string, user?: { username: string; password: string }): Promise<Client> {
  return new Client(keel.url, { Authorization: `Bearer ${await token(`repository:${repo}:pull`, user)}` });
}

/** Status, OCI error code and body of a request, for comparing answers whole. */
async function answer(client: Client, path: string, method: 'GET' | 'HEAD'): Promise<{ status: number; code: string | undefined; length: string | null }> {
  const res = await client.fetch(path, { method });
  const body = Buffer.from(await res.arrayBuffer());
  let code: string | undefined;
  if (method === 'GET' && res.status >= 400) code = ((JSON.parse(body.toString('utf8')) as { errors?: Array<{ code: string }> }).errors ?? [])[0]?.code;
  return { status: res.status, code, length: res.status >= 400 ? null : res.headers.get('content-length') };
}

const upstreamCount = (method: string, pathPart: string): Promise<number> => countRequests(upstream, method, pathPart);

beforeAll(async () => {
  await ensureTools(['docker-registry', 'htpasswd']);
  upstream = await startDistribution({ auth: UPSTREAM_CREDS });
  up = new Client(upstream.url, { Authorization: `Basic ${Buffer.from(`${UPSTREAM_CREDS.username}:${UPSTREAM_CREDS.password}`).toString('base64')}` });
  secret = await up.pushImage('secret/app', 'v1', { layers: 2, layerSize: 4096 });
  // public/shared holds the secret image's first layer too (a base layer both images share).
  const shared = secret.blobs[1] as { digest: string };
  expect((await up.fetch(`/v2/public/shared/blobs/uploads/?mount=${shared.digest}&from=secret/app`, { method: 'POST' })).status).toBe(201);

  const root = await rootWithUsers('keel-scope', { [ALICE.username]: ALICE.password });
  keel = await startKeel({
    root,
    clock,
    toml: `
[auth]
htpasswd = "htpasswd"

[[auth.access]]
repository = "proxy/priv/secret/**"
users = ["alice"]
actions = ["pull"]

[[auth.access]]
repository = "proxy/priv/public/**"
users = ["anonymous"]
actions = ["pull"]

[proxy.upstreams.priv]
url = "${upstream.url}"
allow_private = true
timeout = "5s"
username = "${UPSTREAM_CREDS.username}"
password = "${UPSTREAM_CREDS.password}"
`,
  });

  // Alice pulls the secret image: Keel fetches its blobs with its own upstream credentials.
  const alice = await clientFor('proxy/priv/secret/app', ALICE);
  expect((await alice.fetch('/v2/proxy/priv/secret/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
  for (const blob of secret.blobs) {
    const res = await alice.fetch(`/v2/proxy/priv/secret/app/blobs/${blob.digest}`);
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(sha256(bytes)).toBe(blob.digest);
    secretBytes.set(blob.digest, bytes);
  }
}, 300_000);

afterAll(async () => {
  await keel?.destroy();
  await upstream?.stop();
});

describe('a cached blob and the repositories it is served to', () => {
  test('what alice pulled from a private repository is no cache hit for anonymous under another repository, by GET or HEAD', async () => {
    const anon = await clientFor('proxy/priv/public/anything');
    // The answer for a digest Keel never cached is the yardstick: a cached one must look the same.
    const neverCached = sha256(randomBytes(64));
    const yardstick = {
      GET: await answer(anon, `/v2/proxy/priv/public/anything/blobs/${neverCached}`, 'GET'),
      HEAD: await answer(anon, `/v2/proxy/priv/public/anything/blobs/${neverCached}`, 'HEAD'),
    };
    expect(yardstick.GET).toEqual({ status: 404, code: 'BLOB_UNKNOWN', length: null });
    for (const blob of secret.blobs) {
      for (const method of ['GET', 'HEAD'] as const) {
        const got = await answer(anon, `/v2/proxy/priv/public/anything/blobs/${blob.digest}`, method);
        expect([blob.digest, method, got]).toEqual([blob.digest, method, yardstick[method]]);
      }
    }
    // Keel asked the upstream, for the repository requested, each time (nothing recorded a "no").
    for (const blob of secret.blobs) expect(await upstreamCount('HEAD', `/v2/public/anything/blobs/${blob.digest}`)).toBeGreaterThanOrEqual(2);
    // Alice still gets her blobs from the cache.
    const alice = await clientFor('proxy/priv/secret/app', ALICE);
    for (const blob of secret.blobs) {
      const res = await alice.fetch(`/v2/proxy/priv/secret/app/blobs/${blob.digest}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(secretBytes.get(blob.digest) as Buffer)).toBe(true);
    }
  });

  test('a repository the upstream confirms has the blob gets the cached copy after one HEAD, and is remembered', async () => {
    const shared = secret.blobs[1] as { digest: string; size: number };
    const anon = await clientFor('proxy/priv/public/shared');
    const path = `/v2/proxy/priv/public/shared/blobs/${shared.digest}`;
    const headsBefore = await upstreamCount('HEAD', `/v2/public/shared/blobs/${shared.digest}`);
    const first = await anon.fetch(path);
    expect(first.status).toBe(200);
    expect(Buffer.from(await first.arrayBuffer()).equals(secretBytes.get(shared.digest) as Buffer)).toBe(true);
    const headsAfter = await upstreamCount('HEAD', `/v2/public/shared/blobs/${shared.digest}`);
    expect(headsAfter).toBeGreaterThan(headsBefore);
    // Served from the cache: the upstream never sent the blob for this repository.
    expect(await upstreamCount('GET', `/v2/public/shared/blobs/${shared.digest}`)).toBe(0);
    // Remembered: the next GET and HEAD do not ask again.
    expect((await anon.fetch(path)).status).toBe(200);
    const head = await anon.fetch(path, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length')]).toEqual([200, String(shared.size)]);
    expect(await upstreamCount('HEAD', `/v2/public/shared/blobs/${shared.digest}`)).toBe(headsAfter);
  });

  test("a blob a cached manifest of the repository references is served without asking the upstream", async () => {
    const layer = secret.blobs[2] as { digest: string; size: number; mediaType?: string };
    const config = await up.pushBlob('public/derived', JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: Math.random() }));
    expect((await up.fetch(`/v2/public/derived/blobs/uploads/?mount=${layer.digest}&from=secret/app`, { method: 'POST' })).status).toBe(201);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { ...config, mediaType: 'application/vnd.oci.image.config.v1+json' },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
    };
    await up.pushManifest('public/derived', 'v1', manifest, OCI_MANIFEST);
    const anon = await clientFor('proxy/priv/public/derived');
    expect((await anon.fetch('/v2/proxy/priv/public/derived/manifests/v1', { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
    const res = await anon.fetch(`/v2/proxy/priv/public/derived/blobs/${layer.digest}`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(secretBytes.get(layer.digest) as Buffer)).toBe(true);
    expect(await upstreamCount('HEAD', `/v2/public/derived/blobs/${layer.digest}`)).toBe(0);
    expect(await upstreamCount('GET', `/v2/public/derived/blobs/${layer.digest}`)).toBe(0);
  });

  // Last: it stops the upstream.
  test('with the upstream down, a cached blob not known for the repository is answered as an uncached one: never served', async () => {
    const anon = await clientFor('proxy/priv/public/anything');
    const alice = await clientFor('proxy/priv/secret/app', ALICE);
    await upstream.process.stop();
    const neverCached = sha256(randomBytes(64));
    for (const method of ['GET', 'HEAD'] as const) {
      const yardstick = await answer(anon, `/v2/proxy/priv/public/anything/blobs/${neverCached}`, method);
      expect(yardstick.status).toBe(503);
      for (const blob of secret.blobs) {
        const got = await answer(anon, `/v2/proxy/priv/public/anything/blobs/${blob.digest}`, method);
        expect([blob.digest, method, got]).toEqual([blob.digest, method, yardstick]);
      }
    }
    // The repository it was fetched for is still served from the cache.
    for (const blob of secret.blobs) {
      const res = await alice.fetch(`/v2/proxy/priv/secret/app/blobs/${blob.digest}`);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(secretBytes.get(blob.digest) as Buffer)).toBe(true);
    }
  });
});

// A download in progress is shared too: a request for another repository that joins it must
// have the upstream confirm the blob first. A hand-written upstream holds the download open
// halfway, so the second request surely arrives while it runs.
describe('a download in progress and the repositories it is served to', () => {
  const data = randomBytes(64 * 1024);
  const digest = sha256(data);
  let faults: FaultServer;
  let mirror: KeelProcess;
  let held: ServerResponse | undefined;

  beforeAll(async () => {
    faults = await startFaultServer((req, res) => {
      if (req.method === 'GET' && req.url === `/v2/secret/app/blobs/${digest}`) {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) });
        res.write(data.subarray(0, data.length / 2));
        held = res;
        return;
      }
      if (req.method === 'HEAD' && req.url === `/v2/public/shared/blobs/${digest}`) {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) }).end();
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] }));
    });
    mirror = await startKeel({ toml: `[proxy.upstreams.faulty]\nurl = "${faults.url}"\nallow_private = true\ntimeout = "30s"\n` });
  });
  afterAll(async () => {
    held?.destroy();
    await mirror?.destroy();
    await faults?.stop();
  });

  test('a request for a repository the upstream does not confirm gets BLOB_UNKNOWN, not the bytes; a confirmed one joins', async () => {
    const client = new Client(mirror.url);
    // Headers from Keel mean the upstream answered: the download is running, half written.
    const first = await client.fetch(`/v2/proxy/faulty/secret/app/blobs/${digest}`);
    expect(first.status).toBe(200);

    const other = await client.fetch(`/v2/proxy/faulty/public/anything/blobs/${digest}`);
    expect([other.status, await errorCode(other)]).toEqual([404, 'BLOB_UNKNOWN']);
    const otherHead = await client.fetch(`/v2/proxy/faulty/public/anything/blobs/${digest}`, { method: 'HEAD' });
    expect(otherHead.status).toBe(404);

    const shared = await client.fetch(`/v2/proxy/faulty/public/shared/blobs/${digest}`);
    expect(shared.status).toBe(200);
    (held as ServerResponse).end(data.subarray(data.length / 2));
    expect(Buffer.from(await first.arrayBuffer()).equals(data)).toBe(true);
    expect(Buffer.from(await shared.arrayBuffer()).equals(data)).toBe(true);
    // One download for both; the other repositories were only asked about.
    expect(faults.requests.filter((r) => r.method === 'GET').map((r) => r.path)).toEqual([`/v2/secret/app/blobs/${digest}`]);
    expect(faults.requests.filter((r) => r.method === 'HEAD').map((r) => r.path).sort()).toEqual(
      [`/v2/public/anything/blobs/${digest}`, `/v2/public/anything/blobs/${digest}`, `/v2/public/shared/blobs/${digest}`].sort(),
    );
    // Once stored, the repository that joined is remembered: served without asking again.
    const again = await client.fetch(`/v2/proxy/faulty/public/shared/blobs/${digest}`);
    expect(Buffer.from(await again.arrayBuffer()).equals(data)).toBe(true);
    expect(faults.requests).toHaveLength(4);
  });
});
