// The pull-through cache when upstreams fail: stopped, hanging, cut mid-blob, lying, expiring
// tokens, and redirecting to a storage host. Real upstreams (Distribution 2.8, its token
// server) where they can produce the fault; a hand-written registry-shaped server where not.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { startTokenServer, type TokenServer } from '../support/e2e/token-server.js';
import { ensureTools } from '../support/e2e/tools.js';
import { serveBytes, startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, errorCode, randomBytes, sha256 } from '../support/oci-client.js';
import { streamPull } from '../support/stream-pull.js';

const MiB = 1024 * 1024;

beforeAll(async () => {
  await ensureTools(['docker-registry', 'htpasswd', 'openssl']);
}, 600_000);

describe('upstream stopped or hanging', () => {
  const clock = new ManualClock();
  let upstream: Distribution;
  let hanging: FaultServer;
  let keel: KeelProcess;
  let client: Client;

  beforeAll(async () => {
    upstream = await startDistribution();
    hanging = await startFaultServer(() => undefined);
    keel = await startKeel({
      clock,
      toml: `
[proxy.upstreams.up]
url = "${upstream.url}"
allow_private = true
timeout = "2s"

[proxy.upstreams.hang]
url = "${hanging.url}"
allow_private = true
timeout = "1s"
`,
    });
    client = new Client(keel.url);
  });
  afterAll(async () => {
    await keel.destroy();
    await hanging.stop();
    await upstream.stop();
  });

  test('cached tags and digests are still served, uncached ones fail fast with UNAVAILABLE', async () => {
    const image = await new Client(upstream.url).pushImage('down/app', 'v1');
    const blob = image.blobs[1] as { digest: string };
    expect((await client.fetch('/v2/proxy/up/down/app/manifests/v1')).status).toBe(200);
    expect((await streamPull(`${keel.url}/v2/proxy/up/down/app/blobs/${blob.digest}`)).status).toBe(200);
    await upstream.stop();

    clock.advance(60 * 60_000); // far past the tag TTL: revalidation fails, the stale copy is served
    for (const ref of ['v1', image.digest]) {
      const res = await client.fetch(`/v2/proxy/up/down/app/manifests/${ref}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(image.digest);
    }
    expect(await streamPull(`${keel.url}/v2/proxy/up/down/app/blobs/${blob.digest}`)).toMatchObject({ status: 200, digest: blob.digest });

    const started = Date.now();
    for (const path of ['/v2/proxy/up/down/app/manifests/v2', `/v2/proxy/up/down/app/blobs/${sha256('never cached')}`]) {
      const res = await client.fetch(path);
      expect(res.status).toBe(503);
      expect(await errorCode(res)).toBe('UNAVAILABLE');
    }
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test('an upstream that accepts but never answers times out into UNAVAILABLE, not a hang', async () => {
    const started = Date.now();
    const res = await client.fetch('/v2/proxy/hang/some/app/manifests/latest');
    expect(res.status).toBe(503);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]?.code).toBe('UNAVAILABLE');
    expect(body.errors[0]?.message).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('upstreams that cut or corrupt a blob', () => {
  let fault: FaultServer;
  let keel: KeelProcess;

  beforeAll(async () => {
    fault = await startFaultServer((_req, res) => res.writeHead(404).end());
    keel = await startKeel({ toml: `[proxy.upstreams.faulty]\nurl = "${fault.url}"\nallow_private = true\ntimeout = "2s"\n` });
  });
  afterAll(async () => {
    await keel.destroy();
    await fault.stop();
  });

  test('killed mid-blob: the client gets an error, nothing is cached, the next pull succeeds', async () => {
    const data = randomBytes(8 * MiB);
    const digest = sha256(data);
    fault.handle((_req, res) => {
      res.writeHead(200, { 'Content-Length': String(data.length) });
      res.write(data.subarray(0, 3 * MiB), () => res.destroy());
    });
    const path = `${keel.url}/v2/proxy/faulty/cut/app/blobs/${digest}`;
    await expect(streamPull(path)).rejects.toThrow();
    const gets = (): number => fault.requests.filter((r) => r.method === 'GET' && r.path.includes(digest)).length;
    expect(gets()).toBe(1);

    fault.handle((req, res) => serveBytes(res, data, req.method));
    expect(await streamPull(path)).toEqual({ status: 200, digest, bytes: data.length });
    expect(gets()).toBe(2);
    expect(await streamPull(path)).toEqual({ status: 200, digest, bytes: data.length });
    expect(gets()).toBe(2);
  });

  test('wrong bytes for a digest: refused (the client never gets a complete wrong blob), not cached', async () => {
    const right = randomBytes(2 * MiB);
    const digest = sha256(right);
    const wrong = randomBytes(right.length);
    fault.handle((req, res) => serveBytes(res, wrong, req.method));
    const path = `${keel.url}/v2/proxy/faulty/lying/app/blobs/${digest}`;
    await expect(streamPull(path)).rejects.toThrow();
    await expect(streamPull(path)).rejects.toThrow();
    expect(fault.requests.filter((r) => r.method === 'GET' && r.path.includes(digest))).toHaveLength(2);
  });

  test('a manifest whose bytes do not match the digest asked for is refused and not cached', async () => {
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
    const claimed = sha256('something else');
    fault.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.index.v1+json', 'Content-Length': String(manifest.length) });
      res.end(manifest);
    });
    const res = await fetch(`${keel.url}/v2/proxy/faulty/lying/app/manifests/${claimed}`);
    expect(res.status).toBe(502);
    expect(await errorCode(res)).toBe('UNAVAILABLE');
    fault.handle((_req, r) => r.writeHead(503).end());
    expect((await fetch(`${keel.url}/v2/proxy/faulty/lying/app/manifests/${claimed}`)).status).toBe(503);
  });

  test('a redirect to a storage host is followed without sending the upstream credentials there', async () => {
    const data = randomBytes(MiB);
    const digest = sha256(data);
    const cdn = await startFaultServer((req, res) => serveBytes(res, data, req.method));
    const expected = `Basic ${Buffer.from('keel:secret').toString('base64')}`;
    fault.handle((req, res) => {
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="faulty"' }).end();
        return;
      }
      res.writeHead(307, { Location: `${cdn.url}/blobs/${digest}?signature=abc` }).end();
    });
    const authed = await startKeel({ toml: `[proxy.upstreams.auth]\nurl = "${fault.url}"\nallow_private = true\nusername = "keel"\npassword = "secret"\n` });
    try {
      expect(await streamPull(`${authed.url}/v2/proxy/auth/cdn/app/blobs/${digest}`)).toEqual({ status: 200, digest, bytes: data.length });
      expect(fault.requests.some((r) => r.path.includes(digest) && r.authorization === expected)).toBe(true);
      expect(cdn.requests).toHaveLength(1);
      expect(cdn.requests[0]?.authorization).toBeUndefined();
    } finally {
      await authed.destroy();
      await cdn.stop();
    }
  });
});

describe('token auth upstream', () => {
  const clock = new ManualClock();
  let shift = 0;
  let tokens: TokenServer;
  let upstream: Distribution;
  let keel: KeelProcess;

  beforeAll(async () => {
    const creds = { username: 'puller', password: 'pull-secret' };
    tokens = await startTokenServer({ credentials: creds, allowAnonymous: false, tokenLifetimeSeconds: 120, clock: () => Date.now() + shift });
    upstream = await startDistribution({ tokenAuth: tokens.tokenAuth });
    keel = await startKeel({
      clock,
      toml: `
[proxy.upstreams.tok]
url = "${upstream.url}"
allow_private = true
username = "${creds.username}"
password = "${creds.password}"
auth_hosts = ["${new URL(tokens.url).host}"]
tag_ttl = "0s"
`,
    });
    const pushToken = tokens.mint({ access: [{ type: 'repository', name: 'tok/app', actions: ['pull', 'push'] }] });
    await new Client(upstream.url, { Authorization: `Bearer ${pushToken}` }).pushImage('tok/app', 'v1');
  });
  afterAll(async () => {
    await keel.destroy();
    await upstream.stop();
    await tokens.stop();
  });

  test('tokens are fetched with the credentials, reused until they expire, then refreshed', async () => {
    const path = `${keel.url}/v2/proxy/tok/tok/app/manifests/v1`;
    expect((await fetch(path)).status).toBe(200);
    expect(tokens.issued).toBe(1);
    expect(tokens.requests[0]?.basicAuth).toBe(true);
    expect((await fetch(path)).status).toBe(200);
    expect(tokens.issued).toBe(1);
    clock.advance(121_000);
    expect((await fetch(path)).status).toBe(200);
    expect(tokens.issued).toBe(2);
  });

  test('a token the upstream refuses before Keel thinks it expired is refreshed once on the 401', async () => {
    // Tokens issued by a clock 20 minutes behind: Distribution (60 s leeway) refuses them at
    // once, while Keel, ignoring an issued_at that far off, believes they are fresh.
    shift = -20 * 60_000;
    clock.advance(10 * 60_000);
    const path = `${keel.url}/v2/proxy/tok/tok/app/manifests/v1`;
    expect((await fetch(path)).status).toBe(403);
    const issuedBefore = tokens.issued;
    shift = 0;
    const res = await fetch(path);
    expect(res.status).toBe(200);
    expect(tokens.issued).toBe(issuedBefore + 1);
    await sleep(10);
    expect(await countRequests(upstream, 'HEAD', '/v2/tok/app/manifests/v1')).toBeGreaterThan(0);
  });
});
