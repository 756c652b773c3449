// The pull-through cache against a real upstream: Debian's docker-registry (CNCF Distribution
// 2.8) on a loopback port, anonymous. What Keel asked the upstream for is counted from the
// upstream's own access log.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, errorCode, OCI_INDEX, OCI_MANIFEST, randomBytes, sha256 } from '../support/oci-client.js';
import { streamPull, type Pulled } from '../support/stream-pull.js';

const MiB = 1024 * 1024;
let upstream: Distribution;
let keel: KeelProcess;
let up: Client;
let client: Client;
const clock = new ManualClock();

function keelToml(upstreamUrl: string): string {
  return `
[proxy]
allow = ["localhost", "registry-1.docker.io"]
tag_ttl = "5m"

[proxy.upstreams.up]
url = "${upstreamUrl}"
allow_private = true
timeout = "5s"
`;
}

async function upstreamCount(method: string, pathPart: string): Promise<number> {
  return countRequests(upstream, method, pathPart);
}

function pull(path: string): Promise<Pulled> {
  return streamPull(`${keel.url}${path}`);
}

beforeAll(async () => {
  await ensureTools(['docker-registry', 'htpasswd']);
  upstream = await startDistribution();
  keel = await startKeel({ toml: keelToml(upstream.url), clock });
  up = new Client(upstream.url);
  client = new Client(keel.url);
}, 300_000);

afterAll(async () => {
  await keel?.destroy();
  await upstream?.stop();
});

describe('manifests through proxy/', () => {
  test('a tag is fetched once, stored, and served byte for byte by tag and by digest', async () => {
    const image = await up.pushImage('library/app', 'v1');
    const bytes = JSON.stringify(image.manifest);
    for (const ref of ['v1', image.digest]) {
      const res = await client.fetch(`/v2/proxy/up/library/app/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(image.digest);
      expect(res.headers.get('content-type')).toBe(OCI_MANIFEST);
      expect(await res.text()).toBe(bytes);
    }
    // By digest after the tag: served from the store, no upstream request for it.
    expect(await upstreamCount('GET', `/v2/library/app/manifests/${image.digest}`)).toBe(0);
  });

  test('within the tag TTL the upstream is not asked; after it, one HEAD revalidates', async () => {
    const image = await up.pushImage('ttl/app', 'stable');
    const path = '/v2/proxy/up/ttl/app/manifests/stable';
    expect((await client.fetch(path)).status).toBe(200);
    expect(await upstreamCount('GET', '/v2/ttl/app/manifests/stable')).toBe(1);
    clock.advance(60_000);
    expect((await client.fetch(path)).status).toBe(200);
    expect(await upstreamCount('HEAD', '/v2/ttl/app/manifests/stable')).toBe(0);

    clock.advance(5 * 60_000);
    const revalidated = await client.fetch(path);
    expect(revalidated.headers.get('docker-content-digest')).toBe(image.digest);
    expect(await upstreamCount('HEAD', '/v2/ttl/app/manifests/stable')).toBe(1);
    expect(await upstreamCount('GET', '/v2/ttl/app/manifests/stable')).toBe(1);

    // The tag moves upstream: after the TTL the new manifest is fetched by its digest.
    const moved = await up.pushImage('ttl/app', 'stable');
    clock.advance(5 * 60_000 + 1);
    const res = await client.fetch(path);
    expect(res.headers.get('docker-content-digest')).toBe(moved.digest);
    expect(await res.text()).toBe(JSON.stringify(moved.manifest));
    expect(await upstreamCount('GET', `/v2/ttl/app/manifests/${moved.digest}`)).toBe(1);
  });

  test('an index and the child a client picks are cached', async () => {
    const a = await up.pushImage('multi/app', 'amd64');
    const b = await up.pushImage('multi/app', 'arm64');
    const pushed = await up.pushIndex('multi/app', 'latest', [
      { image: a, platform: { architecture: 'amd64', os: 'linux' } },
      { image: b, platform: { architecture: 'arm64', os: 'linux' } },
    ]);
    const res = await client.fetch('/v2/proxy/up/multi/app/manifests/latest');
    expect(res.headers.get('content-type')).toBe(OCI_INDEX);
    expect(await res.text()).toBe(pushed.bytes);
    expect((await client.fetch(`/v2/proxy/up/multi/app/manifests/${b.digest}`)).status).toBe(200);
    expect((await client.fetch(`/v2/proxy/up/multi/app/manifests/${b.digest}`)).status).toBe(200);
    expect(await upstreamCount('GET', `/v2/multi/app/manifests/${b.digest}`)).toBe(1);
  });

  test('an unknown tag is MANIFEST_UNKNOWN, an unknown repository too', async () => {
    const res = await client.fetch('/v2/proxy/up/library/app/manifests/nope');
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('MANIFEST_UNKNOWN');
    const repo = await client.fetch('/v2/proxy/up/no/such/repo/manifests/latest');
    expect(repo.status).toBe(404);
  });
});

describe('blobs through proxy/', () => {
  test('a blob streams through, is stored, and the next GET (and Range) comes from the store', async () => {
    const data = randomBytes(3 * MiB);
    const { digest } = await up.pushBlob('blobs/app', data);
    const first = await pull(`/v2/proxy/up/blobs/app/blobs/${digest}`);
    expect(first).toEqual({ status: 200, digest, bytes: data.length });
    const second = await client.fetch(`/v2/proxy/up/blobs/app/blobs/${digest}`, { headers: { Range: 'bytes=10-19' } });
    expect(second.status).toBe(206);
    expect(Buffer.from(await second.arrayBuffer()).equals(data.subarray(10, 20))).toBe(true);
    expect(await upstreamCount('GET', `/v2/blobs/app/blobs/${digest}`)).toBe(1);
  });

  test('HEAD of a blob that is not cached asks the upstream and does not download it', async () => {
    const { digest, size } = await up.pushBlob('blobs/head', randomBytes(1000));
    const res = await client.fetch(`/v2/proxy/up/blobs/head/blobs/${digest}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(size));
    expect(await upstreamCount('HEAD', `/v2/blobs/head/blobs/${digest}`)).toBe(1);
    expect(await upstreamCount('GET', `/v2/blobs/head/blobs/${digest}`)).toBe(0);
    const missing = await client.fetch(`/v2/proxy/up/blobs/head/blobs/${sha256('absent')}`, { method: 'HEAD' });
    expect(missing.status).toBe(404);
  });

  test('20 clients missing the same 100 MiB blob at once cause exactly one upstream GET', async () => {
    const data = randomBytes(100 * MiB);
    const { digest } = await up.pushBlob('blobs/herd', data);
    const results = await Promise.all(Array.from({ length: 20 }, () => pull(`/v2/proxy/up/blobs/herd/blobs/${digest}`)));
    for (const r of results) expect(r).toEqual({ status: 200, digest, bytes: data.length });
    expect(await upstreamCount('GET', `/v2/blobs/herd/blobs/${digest}`)).toBe(1);
  }, 120_000);

  test('a client that disconnects does not abort the download for the others', async () => {
    const data = randomBytes(40 * MiB);
    const { digest } = await up.pushBlob('blobs/quitter', data);
    const path = `/v2/proxy/up/blobs/quitter/blobs/${digest}`;
    const quitter = new Promise<void>((resolve) => {
      const req = request(`${keel.url}${path}`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => resolve());
      req.end();
    });
    const stayer = pull(path);
    await quitter;
    expect(await stayer).toEqual({ status: 200, digest, bytes: data.length });
    expect(await pull(path)).toEqual({ status: 200, digest, bytes: data.length });
    expect(await upstreamCount('GET', `/v2/blobs/quitter/blobs/${digest}`)).toBe(1);
  }, 60_000);
});

describe('tags/list and referrers through proxy/', () => {
  test('tags come from the upstream under the proxied name', async () => {
    await up.pushImage('tags/app', 'a');
    await up.pushImage('tags/app', 'b');
    const res = await client.fetch('/v2/proxy/up/tags/app/tags/list');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: 'proxy/up/tags/app', tags: ['a', 'b'] });
  });

  test('referrers of an upstream without the referrers API are an empty index', async () => {
    const image = await up.pushImage('refs/app', 'v1');
    const res = await client.fetch(`/v2/proxy/up/refs/app/referrers/${image.digest}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
  });
});

describe('proxy/ is read-only and bounded', () => {
  test('push, mount and delete under proxy/ are DENIED', async () => {
    const image = await up.pushImage('ro/app', 'v1');
    const attempts: Array<[string, RequestInit]> = [
      ['/v2/proxy/up/ro/app/manifests/v1', { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: JSON.stringify(image.manifest) }],
      ['/v2/proxy/up/ro/app/blobs/uploads/', { method: 'POST' }],
      [`/v2/proxy/up/ro/app/blobs/uploads/?mount=${image.digest}&from=local/app`, { method: 'POST' }],
      [`/v2/proxy/up/ro/app/manifests/${image.digest}`, { method: 'DELETE' }],
      [`/v2/proxy/up/ro/app/blobs/${image.digest}`, { method: 'DELETE' }],
    ];
    for (const [path, init] of attempts) {
      const res = await client.fetch(path, init);
      expect([res.status, path, init.method]).toEqual([403, path, init.method]);
      const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
      expect(body.errors[0]?.code).toBe('DENIED');
      expect(body.errors[0]?.message).toMatch(/read-only pull-through cache/);
    }
  });

  test('an upstream that is neither configured nor allowed is DENIED, naming the settings', async () => {
    const res = await client.fetch('/v2/proxy/evil.example.com/x/manifests/latest');
    expect(res.status).toBe(403);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]?.code).toBe('DENIED');
    expect(body.errors[0]?.message).toMatch(/proxy\.allow.*\[proxy\.upstreams\."evil\.example\.com"\]/);
  });

  test('an allowed name that resolves to a loopback address is refused (SSRF boundary)', async () => {
    const res = await client.fetch('/v2/proxy/localhost/x/manifests/latest');
    expect(res.status).toBe(403);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]?.code).toBe('DENIED');
    expect(body.errors[0]?.message).toMatch(/localhost resolves to .*allow_private/);
  });

  test('proxy/ without a repository is NAME_INVALID', async () => {
    const res = await client.fetch('/v2/proxy/up/manifests/latest');
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('NAME_INVALID');
  });
});

describe('concurrent cold pulls of a manifest', () => {
  test('20 clients asking for the same uncached tag cause one upstream GET', async () => {
    const image = await up.pushImage('herd/manifest', 'v1');
    const results = await Promise.all(Array.from({ length: 20 }, () => client.fetch('/v2/proxy/up/herd/manifest/manifests/v1')));
    for (const res of results) {
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(image.digest);
    }
    expect(await upstreamCount('GET', '/v2/herd/manifest/manifests/v1')).toBe(1);
  });
});
