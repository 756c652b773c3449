// Groups, aliases and mirror mode over HTTP, against real upstreams: two Distribution 2.8
// registries with different htpasswd credentials, and a registry-shaped server playing a
// member that fails. Upstream traffic is counted from the upstreams' own logs.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, errorCode } from '../support/oci-client.js';

const privateCreds = { username: 'private', password: 'private-pass' };
const publicCreds = { username: 'public', password: 'public-pass' };
const basic = (c: { username: string; password: string }): Record<string, string> => ({
  Authorization: `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`,
});

let privateReg: Distribution;
let publicReg: Distribution;
let flaky: FaultServer;
let keel: KeelProcess;
let client: Client;
let toPrivate: Client;
let toPublic: Client;
const clock = new ManualClock();
const logLines: string[] = [];
const logSink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});

beforeAll(async () => {
  await ensureTools(['docker-registry', 'htpasswd']);
  [privateReg, publicReg] = await Promise.all([startDistribution({ auth: privateCreds }), startDistribution({ auth: publicCreds })]);
  flaky = await startFaultServer((_req, res) => res.writeHead(404).end());
  keel = await startKeel({
    clock,
    logger: pino({ level: 'warn' }, logSink),
    toml: `
[proxy]
backoff = "30s"
tag_ttl = "1m"

[proxy.upstreams.private]
url = "${privateReg.url}"
allow_private = true
username = "${privateCreds.username}"
password = "${privateCreds.password}"

[proxy.upstreams.public]
url = "${publicReg.url}"
allow_private = true
username = "${publicCreds.username}"
password = "${publicCreds.password}"

[proxy.upstreams.wrongpass]
url = "${privateReg.url}"
allow_private = true
username = "${privateCreds.username}"
password = "not-the-password"

[proxy.upstreams.flaky]
url = "${flaky.url}"
allow_private = true
timeout = "1s"

[proxy.groups.hub]
members = ["private", "public"]

[proxy.groups.badcreds]
members = ["wrongpass", "public"]

[proxy.groups.shaky]
members = ["flaky", "public"]
tag_ttl = "10s"

[proxy.aliases]
"short" = "hub"
"docker.io" = "hub"

[mirror]
upstream = "hub"
`,
  });
  client = new Client(keel.url);
  toPrivate = new Client(privateReg.url, basic(privateCreds));
  toPublic = new Client(publicReg.url, basic(publicCreds));
}, 300_000);

afterAll(async () => {
  await keel?.destroy();
  await flaky?.stop();
  await privateReg?.stop();
  await publicReg?.stop();
});

describe('groups with priority fallback', () => {
  test('the first member lacks the image, the second has it', async () => {
    const image = await toPublic.pushImage('library/only-public', 'v1');
    const res = await client.fetch('/v2/proxy/hub/library/only-public/manifests/v1');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(image.digest);
    const layer = image.blobs[1] as { digest: string };
    expect((await client.fetch(`/v2/proxy/hub/library/only-public/blobs/${layer.digest}`)).status).toBe(200);
    expect(await countRequests(privateReg, 'GET', '/v2/library/only-public/manifests/v1')).toBeGreaterThan(0);
    expect(await countRequests(publicReg, 'GET', `/v2/library/only-public/blobs/${layer.digest}`)).toBe(1);
  });

  test('the same name in both: the first member wins (a private image overrides a public one)', async () => {
    const mine = await toPrivate.pushImage('library/both', 'v1');
    const theirs = await toPublic.pushImage('library/both', 'v1');
    expect(mine.digest).not.toBe(theirs.digest);
    const res = await client.fetch('/v2/proxy/hub/library/both/manifests/v1');
    expect(res.headers.get('docker-content-digest')).toBe(mine.digest);
    expect(await countRequests(publicReg, 'GET', '/v2/library/both/manifests/v1')).toBe(0);
  });

  test('not found on every member is MANIFEST_UNKNOWN (the most telling error)', async () => {
    const res = await client.fetch('/v2/proxy/hub/library/nowhere/manifests/v1');
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('MANIFEST_UNKNOWN');
  });

  test('a member refusing its credentials is named in the client\'s error and the log, not hidden behind the next member\'s 404', async () => {
    await toPrivate.pushImage('team/behind-creds', 'v1');
    const res = await client.fetch('/v2/proxy/badcreds/team/behind-creds/manifests/v1');
    expect(res.status).toBe(403);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]?.code).toBe('DENIED');
    expect(body.errors[0]?.message).toMatch(/member "wrongpass": HTTP 401, check its credentials/);
    expect(body.errors[0]?.message).toMatch(/member "public": not found/);
    const warned = logLines.map((l) => JSON.parse(l) as { level: number; msg: string; member?: string }).filter((l) => l.member === 'wrongpass');
    expect(warned.map((l) => [l.level, l.msg])).toContainEqual([40, 'member "wrongpass": HTTP 401, check its credentials']);
  });

  test('not found on every member names each member\'s answer', async () => {
    const res = await client.fetch('/v2/proxy/hub/library/nowhere-at-all/manifests/v1');
    expect(res.status).toBe(404);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]).toEqual({ code: 'MANIFEST_UNKNOWN', message: 'not found on any member of "hub" (member "private": not found; member "public": not found)', detail: { upstream: 'hub' } });
  });

  test('a failing member is skipped for the back-off period, then tried again', async () => {
    const image = await toPublic.pushImage('library/shaky', 'v1');
    const flakyHits = (): number => flaky.requests.filter((r) => r.path.includes('library/shaky')).length;
    flaky.handle((_req, res) => res.writeHead(503).end());
    expect((await client.fetch('/v2/proxy/shaky/library/shaky/manifests/v1')).headers.get('docker-content-digest')).toBe(image.digest);
    expect(flakyHits()).toBe(1);

    clock.advance(11_000); // past the group's 10 s tag TTL: revalidated, but the failed member is still backed off
    expect((await client.fetch('/v2/proxy/shaky/library/shaky/manifests/v1')).status).toBe(200);
    expect(flakyHits()).toBe(1);

    clock.advance(30_000); // past the 30 s back-off: the first member is asked again
    flaky.handle((_req, res) => res.writeHead(404).end());
    expect((await client.fetch('/v2/proxy/shaky/library/shaky/manifests/v1')).status).toBe(200);
    expect(flakyHits()).toBe(2);
  });
});

describe('aliases', () => {
  test('docker.io aliased to a group of Docker Hub mirrors adds library/ to one-word names on every member', async () => {
    const image = await toPublic.pushImage('library/hubby', 'v1');
    const res = await client.fetch('/v2/proxy/docker.io/hubby/manifests/v1');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(image.digest);
    expect(await countRequests(privateReg, 'GET', '/v2/library/hubby/manifests/v1')).toBeGreaterThan(0);
    expect(await countRequests(publicReg, 'GET', '/v2/hubby/manifests/v1')).toBe(0);
  });

  test('an alias shares the cache of the group it names', async () => {
    const image = await toPrivate.pushImage('team/aliased', 'v1');
    expect((await client.fetch('/v2/proxy/short/team/aliased/manifests/v1')).headers.get('docker-content-digest')).toBe(image.digest);
    expect((await client.fetch(`/v2/proxy/hub/team/aliased/manifests/${image.digest}`)).status).toBe(200);
    expect(await countRequests(privateReg, 'GET', `/v2/team/aliased/manifests/${image.digest}`)).toBe(0);
  });
});

describe('mirror mode', () => {
  test('an ordinary name missing locally is served through the mirror upstream', async () => {
    const image = await toPublic.pushImage('library/nginx', 'stable');
    const res = await client.fetch('/v2/library/nginx/manifests/stable');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(image.digest);
    const layer = image.blobs[1] as { digest: string };
    expect((await client.fetch(`/v2/library/nginx/blobs/${layer.digest}`)).status).toBe(200);
    expect(((await (await client.fetch('/v2/library/nginx/tags/list')).json()) as { tags: string[] }).tags).toEqual(['stable']);
  });

  test('local content wins over the mirror, and pushes go to the local registry only', async () => {
    await toPublic.pushImage('team/app', 'v1');
    const local = await client.pushImage('team/app', 'v1');
    const res = await client.fetch('/v2/team/app/manifests/v1');
    expect(res.headers.get('docker-content-digest')).toBe(local.digest);
    expect(await countRequests(publicReg, 'GET', '/v2/team/app/manifests/v1')).toBe(0);
    expect(await countRequests(privateReg, 'PUT', '/v2/team/app/')).toBe(0);
    expect(await countRequests(privateReg, 'POST', '/v2/team/app/')).toBe(0);
  });

  test('?ns= picks the upstream for containerd mirror requests; an unknown ns falls back to the local answer', async () => {
    const image = await toPrivate.pushImage('ns/only-private', 'v1');
    expect((await client.fetch('/v2/ns/only-private/manifests/v1?ns=private')).headers.get('docker-content-digest')).toBe(image.digest);
    const viaPublic = await client.fetch('/v2/ns/only-private/manifests/v1?ns=public');
    expect(viaPublic.status).toBe(404);
    expect(await errorCode(viaPublic)).toBe('MANIFEST_UNKNOWN');
  });

  test('a miss everywhere is the local MANIFEST_UNKNOWN', async () => {
    const res = await client.fetch('/v2/library/absent/manifests/v1');
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('MANIFEST_UNKNOWN');
  });
});

// Last: this stops the public registry.
describe('all members down', () => {
  test('all members down: the cached copy is served; never cached gives a clear UNAVAILABLE', async () => {
    const image = await toPublic.pushImage('library/alldown', 'v1');
    expect((await client.fetch('/v2/proxy/shaky/library/alldown/manifests/v1')).status).toBe(200);
    flaky.handle((req) => req.socket.destroy());
    await publicReg.process.stop();
    clock.advance(61_000); // past the tag TTL: both members are asked, both fail

    const stale = await client.fetch('/v2/proxy/shaky/library/alldown/manifests/v1');
    expect(stale.status).toBe(200);
    expect(stale.headers.get('docker-content-digest')).toBe(image.digest);
    const never = await client.fetch('/v2/proxy/shaky/library/never-cached/manifests/v1');
    expect(never.status).toBe(503);
    expect(await errorCode(never)).toBe('UNAVAILABLE');
  });
});
