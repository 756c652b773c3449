// The pull-through cache against upstreams that misbehave on purpose or by accident: huge or
// endless bodies (token responses, manifests, error answers), tokens that cannot go into a
// header or never expire, redirects that would carry configured API keys to a storage host,
// rate limiting, and a HEAD that names a manifest the upstream does not have. Each upstream is
// a hand-written registry-shaped server on loopback (allow_private lets Keel reach it).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { serveBytes, serveFlood, startFaultServer, type FaultServer, type Flood } from '../support/fault-upstream.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { errorCode, OCI_INDEX, randomBytes, sha256 } from '../support/oci-client.js';
import { streamPull } from '../support/stream-pull.js';

const MiB = 1024 * 1024;
/**
 * Far more than any cap (token 1 MiB, manifest 4 MiB) plus what loopback socket buffers can
 * hold (tcp_rmem up to 32 MiB here): a reader that stops at its cap leaves most of it unsent.
 */
const HUGE = 128 * MiB;
const UNSENT_MARGIN = HUGE / 2;

function manifestBytes(annotation: string): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], annotations: { a: annotation } }));
}

function serveManifest(req: IncomingMessage, res: ServerResponse, bytes: Buffer): void {
  res.writeHead(200, { 'Content-Type': OCI_INDEX, 'Content-Length': String(bytes.length), 'Docker-Content-Digest': sha256(bytes) });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

async function errorBody(res: Response): Promise<{ code: string; message: string } | undefined> {
  const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
  return body.errors[0];
}

describe('bodies larger than Keel reads', () => {
  let fault: FaultServer;
  let keel: KeelProcess;
  let flood: Flood | undefined;

  beforeAll(async () => {
    fault = await startFaultServer((_req, res) => res.writeHead(404).end());
    keel = await startKeel({ toml: `[proxy.upstreams.huge]\nurl = "${fault.url}"\nallow_private = true\ntimeout = "30s"\n` });
  });
  afterEach(() => {
    flood = undefined;
  });
  afterAll(async () => {
    await keel.destroy();
    await fault.stop();
  });

  test('an endless token response is cut at the cap and answered 502 naming the upstream', async () => {
    fault.handle((req, res) => {
      if (req.url?.startsWith('/token')) {
        flood = serveFlood(res, 200, { 'Content-Type': 'application/json' }, HUGE);
        return;
      }
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${fault.url}/token",service="huge"` }).end();
    });
    const res = await fetch(`${keel.url}/v2/proxy/huge/big/token/manifests/v1`);
    expect(res.status).toBe(502);
    const error = await errorBody(res);
    expect(error?.code).toBe('UNAVAILABLE');
    expect(error?.message).toMatch(/upstream "huge" sent a token response larger than the limit/);
    await flood?.done;
    expect(flood?.finished).toBe(false);
    expect(flood?.sent).toBeLessThan(HUGE - UNSENT_MARGIN);
  });

  test('a manifest over max_manifest_size is an upstream fault (502), read no further than the cap', async () => {
    fault.handle((_req, res) => {
      flood = serveFlood(res, 200, { 'Content-Type': OCI_INDEX }, HUGE);
    });
    const res = await fetch(`${keel.url}/v2/proxy/huge/big/manifest/manifests/v1`);
    expect(res.status).toBe(502);
    const error = await errorBody(res);
    expect(error?.code).toBe('UNAVAILABLE');
    expect(error?.message).toMatch(/upstream "huge" sent a manifest larger than the limit of 4194304 bytes/);
    await flood?.done;
    expect(flood?.finished).toBe(false);
    expect(flood?.sent).toBeLessThan(HUGE - UNSENT_MARGIN);
  });

  test('a referrers index over the cap is a 502; a tag list over its cap falls back to the cached tags', async () => {
    fault.handle((_req, res) => {
      flood = serveFlood(res, 200, { 'Content-Type': 'application/json' }, HUGE);
    });
    const referrers = await fetch(`${keel.url}/v2/proxy/huge/big/refs/referrers/${sha256('subject')}`);
    expect(referrers.status).toBe(502);
    expect((await errorBody(referrers))?.message).toMatch(/upstream "huge" sent a referrers index larger than the limit/);
    await flood?.done;
    expect(flood?.finished).toBe(false);
    expect(flood?.sent).toBeLessThan(HUGE - UNSENT_MARGIN);

    const tags = await fetch(`${keel.url}/v2/proxy/huge/big/tags/tags/list`);
    expect(tags.status).toBe(200);
    expect(await tags.json()).toEqual({ name: 'proxy/huge/big/tags', tags: [] });
    await flood?.done;
    expect(flood?.finished).toBe(false);
    expect(flood?.sent).toBeLessThan(HUGE - UNSENT_MARGIN);
  });

  test('an endless error body is not drained: the answer is the error, the connection is cut', async () => {
    fault.handle((_req, res) => {
      flood = serveFlood(res, 404, { 'Content-Type': 'application/json' }, HUGE);
    });
    const res = await fetch(`${keel.url}/v2/proxy/huge/big/error/manifests/v1`);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('MANIFEST_UNKNOWN');
    await flood?.done;
    expect(flood?.finished).toBe(false);
    expect(flood?.sent).toBeLessThan(HUGE - UNSENT_MARGIN);
  });
});

describe('upstream tokens', () => {
  const clock = new ManualClock();
  let fault: FaultServer;
  let keel: KeelProcess;
  let tokenReplies: string[] = [];
  const manifest = manifestBytes('token');

  beforeAll(async () => {
    fault = await startFaultServer((req, res) => {
      if (req.url?.startsWith('/token')) {
        const body = tokenReplies.shift() ?? JSON.stringify({ token: 'good-token', expires_in: 300 });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
        return;
      }
      if (req.headers.authorization === 'Bearer good-token') {
        serveManifest(req, res, manifest);
        return;
      }
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${fault.url}/token",service="tok"` }).end();
    });
    keel = await startKeel({ clock, toml: `[proxy.upstreams.tok]\nurl = "${fault.url}"\nallow_private = true\ntag_ttl = "0s"\n` });
  });
  afterAll(async () => {
    await keel.destroy();
    await fault.stop();
  });
  const tokenRequests = (): number => fault.requests.filter((r) => r.path.startsWith('/token')).length;

  test('a token with a newline is refused (502) and not cached: the next pull gets a fresh one', async () => {
    tokenReplies = [JSON.stringify({ token: 'bad\r\nX-Injected: yes', expires_in: 1e12 })];
    const first = await fetch(`${keel.url}/v2/proxy/tok/ctl/app/manifests/v1`);
    expect(first.status).toBe(502);
    const error = await errorBody(first);
    expect(error?.code).toBe('UNAVAILABLE');
    expect(error?.message).toMatch(/upstream "tok" sent a token that cannot be used in a header/);
    expect(fault.requests.some((r) => r.headers['x-injected'] !== undefined)).toBe(false);

    const before = tokenRequests();
    const second = await fetch(`${keel.url}/v2/proxy/tok/ctl/app/manifests/v1`);
    expect(second.status).toBe(200);
    expect(second.headers.get('docker-content-digest')).toBe(sha256(manifest));
    expect(tokenRequests()).toBe(before + 1);
  });

  test('a token with control characters or a space is refused the same way', async () => {
    tokenReplies = [JSON.stringify({ access_token: 'bell\u0007token' })];
    const res = await fetch(`${keel.url}/v2/proxy/tok/ctl/other/manifests/v1`);
    expect(res.status).toBe(502);
    expect((await fetch(`${keel.url}/v2/proxy/tok/ctl/other/manifests/v1`)).status).toBe(200);
    tokenReplies = [JSON.stringify({ token: 'has space' })];
    expect((await fetch(`${keel.url}/v2/proxy/tok/ctl/spaced/manifests/v1`)).status).toBe(502);
    expect((await fetch(`${keel.url}/v2/proxy/tok/ctl/spaced/manifests/v1`)).status).toBe(200);
  });

  test('a huge expires_in is capped: the token is fetched again after an hour', async () => {
    tokenReplies = [JSON.stringify({ token: 'good-token', expires_in: 1e12 })];
    const path = `${keel.url}/v2/proxy/tok/long/app/manifests/v1`;
    expect((await fetch(path)).status).toBe(200);
    const after = tokenRequests();
    clock.advance(30 * 60_000);
    expect((await fetch(path)).status).toBe(200);
    expect(tokenRequests()).toBe(after);
    clock.advance(31 * 60_000);
    expect((await fetch(path)).status).toBe(200);
    expect(tokenRequests()).toBe(after + 1);
  });
});

describe('upstream answers passed on or distrusted', () => {
  let fault: FaultServer;
  let cdn: FaultServer;
  let keel: KeelProcess;

  beforeAll(async () => {
    fault = await startFaultServer((_req, res) => res.writeHead(404).end());
    cdn = await startFaultServer((_req, res) => res.writeHead(404).end());
    keel = await startKeel({
      toml: `
[proxy.upstreams.keyed]
url = "${fault.url}"
allow_private = true
tag_ttl = "0s"

[proxy.upstreams.keyed.headers]
X-Api-Key = "k-secret"
`,
    });
  });
  afterAll(async () => {
    await keel.destroy();
    await cdn.stop();
    await fault.stop();
  });

  test('configured headers go to the upstream and same-origin redirects, not to a storage host', async () => {
    const data = randomBytes(MiB);
    const digest = sha256(data);
    cdn.handle((req, res) => serveBytes(res, data, req.method));
    fault.handle((req, res) => {
      if (req.url?.startsWith('/storage/')) res.writeHead(307, { Location: `${cdn.url}/blobs/${digest}?signature=abc` }).end();
      else res.writeHead(307, { Location: `/storage/${digest}` }).end();
    });
    expect(await streamPull(`${keel.url}/v2/proxy/keyed/cdn/app/blobs/${digest}`)).toEqual({ status: 200, digest, bytes: data.length });
    const upstreamHops = fault.requests.filter((r) => r.path.includes(digest));
    expect(upstreamHops.map((r) => [r.path.split('?')[0], r.headers['x-api-key']])).toEqual([
      [`/v2/cdn/app/blobs/${digest}`, 'k-secret'],
      [`/storage/${digest}`, 'k-secret'],
    ]);
    expect(cdn.requests).toHaveLength(1);
    expect(cdn.requests[0]?.headers['x-api-key']).toBeUndefined();
  });

  test("an upstream 429's Retry-After reaches the client with TOOMANYREQUESTS", async () => {
    fault.handle((_req, res) => res.writeHead(429, { 'Retry-After': '120' }).end());
    const res = await fetch(`${keel.url}/v2/proxy/keyed/limited/app/manifests/v1`);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('120');
    expect(await errorCode(res)).toBe('TOOMANYREQUESTS');
    fault.handle((_req, r) => r.writeHead(429, { 'Retry-After': 'soon' }).end());
    const odd = await fetch(`${keel.url}/v2/proxy/keyed/limited/app/manifests/v1`);
    expect(odd.status).toBe(429);
    expect(odd.headers.get('retry-after')).toBeNull();
  });

  test('a HEAD naming a digest the upstream does not have keeps the cached tag until a GET says otherwise', async () => {
    const manifest = manifestBytes('cached');
    const digest = sha256(manifest);
    const lie = sha256('no such manifest');
    const path = `${keel.url}/v2/proxy/keyed/lying/app/manifests/v1`;
    fault.handle((req, res) => serveManifest(req, res, manifest));
    expect((await fetch(path)).headers.get('docker-content-digest')).toBe(digest);

    // HEAD lies; the GET of that digest 404s; the GET of the tag still has the old manifest.
    fault.handle((req, res) => {
      if (req.method === 'HEAD') res.writeHead(200, { 'Content-Type': OCI_INDEX, 'Docker-Content-Digest': lie }).end();
      else if (req.url?.endsWith(`/manifests/${lie}`)) res.writeHead(404).end();
      else serveManifest(req, res, manifest);
    });
    const lied = await fetch(path);
    expect(lied.status).toBe(200);
    expect(lied.headers.get('docker-content-digest')).toBe(digest);

    // The tag was kept: with the upstream down, the cached copy is served.
    fault.handle((_req, res) => res.writeHead(503).end());
    const stale = await fetch(path);
    expect(stale.status).toBe(200);
    expect(stale.headers.get('docker-content-digest')).toBe(digest);

    // A GET of the tag that 404s does confirm it is gone.
    fault.handle((req, res) => {
      if (req.method === 'HEAD') res.writeHead(200, { 'Content-Type': OCI_INDEX, 'Docker-Content-Digest': lie }).end();
      else res.writeHead(404).end();
    });
    expect((await fetch(path)).status).toBe(404);
    fault.handle((_req, res) => res.writeHead(503).end());
    expect((await fetch(path)).status).toBe(503);
  });
});

describe('a token service that is limiting or failing', () => {
  let fault: FaultServer;
  let keel: KeelProcess;
  let tokenAnswer: (res: ServerResponse) => void = (res) => res.writeHead(429, { 'Retry-After': '30' }).end();

  beforeAll(async () => {
    fault = await startFaultServer((req, res) => {
      if (req.url?.startsWith('/token')) return tokenAnswer(res);
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${fault.url}/token",service="limited"` }).end();
    });
    keel = await startKeel({ toml: `[proxy.upstreams.limited]\nurl = "${fault.url}"\nallow_private = true\n` });
  });
  afterAll(async () => {
    await keel.destroy();
    await fault.stop();
  });

  test('a 429 from the token endpoint reaches the client as TOOMANYREQUESTS with its Retry-After, not DENIED', async () => {
    const res = await fetch(`${keel.url}/v2/proxy/limited/app/manifests/v1`);
    expect([res.status, res.headers.get('retry-after'), await errorCode(res)]).toEqual([429, '30', 'TOOMANYREQUESTS']);
  });

  test('a 5xx from the token endpoint is UNAVAILABLE (the upstream failing), not DENIED', async () => {
    tokenAnswer = (res) => res.writeHead(503).end();
    const res = await fetch(`${keel.url}/v2/proxy/limited/app/manifests/v2`);
    expect([res.status, await errorCode(res)]).toEqual([503, 'UNAVAILABLE']);
  });

  test('a token endpoint that refuses (401) is still DENIED', async () => {
    tokenAnswer = (res) => res.writeHead(401).end();
    const res = await fetch(`${keel.url}/v2/proxy/limited/app/manifests/v3`);
    expect([res.status, await errorCode(res)]).toEqual([403, 'DENIED']);
  });
});
