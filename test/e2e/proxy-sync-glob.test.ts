// [[proxy.sync]] repositories by glob, against a real upstream (Debian's docker-registry,
// Distribution 2.8, which serves /v2/_catalog) driven by a ManualClock: a run lists the
// upstream's repositories, warms the selected tags of those the glob matches and nothing of the
// others, and a matching repository pushed later is picked up by the next run. The upstream's
// access log shows what was asked. Then with token auth (the e2e token server): Keel asks for
// a token scoped registry:catalog:*; an anonymous token, granted pull only, cannot list it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startTokenServer, type TokenServer } from '../support/e2e/token-server.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, OCI_MANIFEST, type Descriptor } from '../support/oci-client.js';

interface Image {
  digest: string;
  blobs: Descriptor[];
}

const HOUR = 3_600_000;
let upstream: Distribution;
let keel: KeelProcess;
let up: Client;
const clock = new ManualClock();
const images = new Map<string, Image>();
let runs = 0;

const log = (method: string, path: string): Promise<number> => countRequests(upstream, method, path);
const blobGets = async (...refs: string[]): Promise<number[]> => {
  const counts: number[] = [];
  for (const ref of refs) for (const b of (images.get(ref) as Image).blobs) counts.push(await countRequests(upstream, 'GET', `/blobs/${b.digest}`));
  return counts;
};
const push = async (repository: string, tag: string): Promise<void> => {
  images.set(`${repository}:${tag}`, await up.pushImage(repository, tag, { layers: 1, layerSize: 32 * 1024 }));
};

beforeAll(async () => {
  await ensureTools(['docker-registry']);
  upstream = await startDistribution();
  up = new Client(upstream.url);
  await push('glob/app-1', '1.0');
  await push('glob/app-1', '1.1');
  await push('glob/app-1', 'latest');
  await push('glob/app-2', '1.0');
  // Not matched by "glob/app-*": another namespace, and a level deeper (* does not cross /).
  await push('other/app-1', '1.0');
  await push('glob/app-1/nested', '1.0');
  keel = await startKeel({
    clock,
    toml: `
[proxy]
tag_ttl = "24h"

[proxy.upstreams.up]
url = "${upstream.url}"
allow_private = true
timeout = "10s"

[[proxy.sync]]
upstream = "up"
repositories = ["glob/app-*"]
tags = "1\\\\..*"
newest = 1
interval = "6h"
`,
  });
}, 300_000);

afterAll(async () => {
  await keel?.destroy();
  await upstream?.stop();
});

describe('[[proxy.sync]] repositories by glob', () => {
  test('a run warms the selected tags of exactly the repositories the glob matches', async () => {
    const run = await keel.running.sync.completed(0, ++runs);
    expect(run).toMatchObject({ outcome: 'synced', references: ['proxy/up/glob/app-1:1.1', 'proxy/up/glob/app-2:1.0'] });
    expect(run.images.map((i) => i.digest)).toEqual([images.get('glob/app-1:1.1')?.digest, images.get('glob/app-2:1.0')?.digest]);
    expect(await log('GET', '/v2/_catalog?n=100')).toBe(1);
    expect(await blobGets('glob/app-1:1.1', 'glob/app-2:1.0')).toEqual([1, 1, 1, 1]);
    // Not selected by tag, and not matched by the glob: nothing asked of them.
    expect(await blobGets('glob/app-1:1.0', 'glob/app-1:latest', 'other/app-1:1.0', 'glob/app-1/nested:1.0')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(await log('GET', '/v2/other/app-1/')).toBe(0);
    expect(await log('GET', '/v2/glob/app-1/nested/')).toBe(0);
  });

  test('a matching repository pushed upstream later is picked up by the next run', async () => {
    await push('glob/app-3', '1.0');
    await push('glob/app-3', '1.5');
    await push('other/app-3', '1.0');
    clock.advance(6 * HOUR);
    const run = await keel.running.sync.completed(0, ++runs);
    expect(run).toMatchObject({ outcome: 'synced', references: ['proxy/up/glob/app-1:1.1', 'proxy/up/glob/app-2:1.0', 'proxy/up/glob/app-3:1.5'] });
    expect(run.images.map((i) => i.fetched.blobs)).toEqual([0, 0, 2]);
    expect(await log('GET', '/v2/_catalog?n=100')).toBe(2);
    expect(await blobGets('glob/app-3:1.5', 'glob/app-3:1.0', 'other/app-3:1.0')).toEqual([1, 1, 0, 0, 0, 0]);
    // Warm in Keel's cache: answered within tag_ttl without asking the upstream.
    const heads = await log('HEAD', '/v2/glob/app-3/manifests/1.5');
    const gets = await log('GET', '/v2/glob/app-3/manifests/');
    const res = await new Client(keel.url).fetch('/v2/proxy/up/glob/app-3/manifests/1.5', { headers: { Accept: OCI_MANIFEST } });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(images.get('glob/app-3:1.5')?.digest);
    expect([await log('HEAD', '/v2/glob/app-3/manifests/1.5'), await log('GET', '/v2/glob/app-3/manifests/')]).toEqual([heads, gets]);
  });
});

describe('with token auth on the upstream', () => {
  const creds = { username: 'sync', password: 'sync-secret' };
  let tokens: TokenServer;
  let registry: Distribution;
  let tokenKeel: KeelProcess;
  let pushed: Image;

  beforeAll(async () => {
    tokens = await startTokenServer({ credentials: creds, allowAnonymous: true });
    registry = await startDistribution({ tokenAuth: tokens.tokenAuth });
    const pusher = tokens.mint({ subject: 'pusher', access: [{ type: 'repository', name: 'tok/app', actions: ['pull', 'push'] }] });
    pushed = await new Client(registry.url, { Authorization: `Bearer ${pusher}` }).pushImage('tok/app', '1.0', { layers: 1, layerSize: 16 * 1024 });
    const upstreamToml = (name: string, withCredentials: boolean): string => `
[proxy.upstreams.${name}]
url = "${registry.url}"
allow_private = true
timeout = "10s"
${withCredentials ? `username = "${creds.username}"\npassword = "${creds.password}"\nauth_hosts = ["${new URL(tokens.url).host}"]` : ''}
`;
    tokenKeel = await startKeel({
      clock: new ManualClock(),
      toml: `${upstreamToml('signed', true)}${upstreamToml('anon', false)}
[[proxy.sync]]
upstream = "signed"
repositories = ["tok/*"]
interval = "1h"

[[proxy.sync]]
upstream = "anon"
repositories = ["tok/*"]
interval = "1h"
`,
    });
  }, 120_000);

  afterAll(async () => {
    await tokenKeel?.destroy();
    await registry?.stop();
    await tokens?.stop();
  });

  test('with credentials, a token scoped registry:catalog:* lists the repositories; an anonymous token cannot', async () => {
    const [signed, anon] = await Promise.all([tokenKeel.running.sync.completed(0, 1), tokenKeel.running.sync.completed(1, 1)]);
    expect(signed).toMatchObject({ outcome: 'synced', references: ['proxy/signed/tok/app:1.0'] });
    expect(signed.images.map((i) => i.digest)).toEqual([pushed.digest]);
    expect(anon).toMatchObject({ outcome: 'failed', references: [] });
    expect(anon.error).toMatch(/the upstream "anon" does not list its repositories \(_catalog answered HTTP 401\); name them literally$/);
    const catalogTokens = tokens.requests.filter((r) => r.scopes.includes('registry:catalog:*'));
    expect(catalogTokens.map((r) => r.basicAuth).sort()).toEqual([false, true]);
  });
});
