/**
 * GET /api/v1/status and GET /api/v1/upstreams against a real listening server, with a
 * hand-written upstream on loopback and a group whose first member is a closed port: the
 * counts of hits and misses, a member's last failure and back-off by the injected clock,
 * aliases, the version, and with auth on only signed-in users. Bad names are 400/404.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GC, run, stopAll } from '../support/cli-process.js';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { freePort } from '../support/e2e/ports.js';
import { startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { rootWithUsers } from '../support/htpasswd.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, OCI_MANIFEST, sha256 } from '../support/oci-client.js';

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('{}'), size: 2 }, layers: [] }));
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
let upstream: FaultServer;
let keel: KeelProcess;
const clock = new ManualClock();

const toml = (closedPort: number): string => `
[proxy]
backoff = "30s"

[proxy.upstreams.up]
url = "${upstream.url}"
allow_private = true
username = "keel"
password = "s3cret-value"

[proxy.upstreams.down]
url = "http://127.0.0.1:${closedPort}"
allow_private = true
timeout = "5s"

[proxy.groups.both]
members = ["down", "up"]

[proxy.aliases]
"up.alias" = "up"
`;

const get = async (url: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

beforeAll(async () => {
  upstream = await startFaultServer((req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200).end();
    if (/^\/v2\/app\/manifests\/v1$/.test(req.url ?? '')) {
      res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Content-Length': String(manifest.length), 'Docker-Content-Digest': sha256(manifest) });
      return void res.end(req.method === 'HEAD' ? undefined : manifest);
    }
    res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}');
  });
  keel = await startKeel({ clock, toml: toml(await freePort()) });
});

afterAll(async () => {
  await stopAll();
  await keel?.destroy();
  await upstream?.stop();
});

describe('GET /api/v1/status', () => {
  test('version, uptime by the clock, bytes per store, no GC run yet', async () => {
    clock.advance(90_000);
    const { status, body } = await get(`${keel.url}/api/v1/status`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ version, node: process.version, uptimeSeconds: 90, stores: { registry: { bytes: 0 }, proxy: { bytes: 0 } } });
    expect(body.lastGc).toBeUndefined();
  });
});

describe('after a GC run', () => {
  // On the real clock: GC, a process of its own, judges the grace period by it.
  let keel: KeelProcess;
  beforeAll(async () => {
    keel = await startKeel();
  });
  afterAll(async () => {
    await keel?.destroy();
  });

  test('the status answer and page give the last run and what it freed', async () => {
    // An image pushed, then its manifest deleted: GC frees its config and layer.
    const client = new Client(keel.url);
    const image = await client.pushImage('gone/app', 'v1', { layers: 1, layerSize: 10_000 });
    expect((await fetch(`${keel.url}/v2/gone/app/manifests/${image.digest}`, { method: 'DELETE' })).status).toBe(202);
    const { config } = keel;
    if (config.index.kind !== 'sqlite') throw new Error('this test runs on the SQLite index');
    const file = join(keel.root, 'gc.toml');
    const q = JSON.stringify;
    await writeFile(file, `registry_storage = ${q(config.registry_storage)}\nproxy_storage = ${q(config.proxy_storage)}\ntemporary_registry_storage = ${q(config.temporary_registry_storage)}\ndatabase = ${q(config.index.path)}\n`);
    const gc = run(GC, ['--config', file, '--grace', '0s', '--json']);
    expect(await gc.exited).toBe(0);
    // Its config, its layer and the manifest's own bytes (stored as a blob too).
    const freed = image.blobs.reduce((n, b) => n + b.size, 0) + Buffer.byteLength(JSON.stringify(image.manifest));
    const { body } = await get(`${keel.url}/api/v1/status`);
    const lastGc = body.lastGc as { finishedAt: string; stores: Array<Record<string, unknown>> };
    expect(Date.parse(lastGc.finishedAt)).toBeGreaterThan(0);
    expect(lastGc.stores.find((st) => st.store === 'registry')).toMatchObject({ blobs: 3, manifests: 0, bytes: freed });
    const html = await (await fetch(`${keel.url}/ui/status`)).text();
    expect(html).toContain('Last run finished');
    expect(html).toMatch(new RegExp(`<td>registry</td><td class="num">3</td><td class="num">\\d+</td><td class="num">\\d+</td><td class="num">${(freed / 1024).toFixed(1).replace('.', '\\.')} KiB</td>`));
  });
});

describe('GET /api/v1/upstreams', () => {
  test('a miss then a hit are counted for the upstream; its settings show, never its credentials', async () => {
    for (let i = 0; i < 2; i++) expect((await fetch(`${keel.url}/v2/proxy/up/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
    const res = await fetch(`${keel.url}/api/v1/upstreams`);
    const text = await res.text();
    expect(text).not.toContain('s3cret-value');
    const list = (JSON.parse(text) as { upstreams: Array<Record<string, unknown>> }).upstreams;
    // Configured upstreams, then groups, then the allowed public registries.
    expect(list.slice(0, 3).map((u) => u.name)).toEqual(['down', 'up', 'both']);
    expect(list.map((u) => u.name)).toContain('registry-1.docker.io');
    expect(list.find((u) => u.name === 'up')).toMatchObject({
      kind: 'upstream',
      configured: true,
      aliases: ['up.alias'],
      tag_ttl_seconds: 300,
      members: [{ name: 'up', url: upstream.url, signs_in: true, last_success: new Date(clock.now()).toISOString() }],
      hits: { manifests: 1, blobs: 0 },
      misses: { manifests: 1, blobs: 0 },
      // The manifest alone was pulled: cached, with no blob yet.
      cached: { repositories: 1, manifests: 1, blobs: 0, bytes: 0 },
    });
    expect(list.find((u) => u.name === 'down')?.cached).toEqual({ repositories: 0, manifests: 0, blobs: 0, bytes: 0 });
  });

  test('a group member that cannot be reached shows its last failure and its back-off, until the clock passes it', async () => {
    expect((await fetch(`${keel.url}/v2/proxy/both/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
    const failedAt = clock.now();
    const both = (await get(`${keel.url}/api/v1/upstreams/both`)).body as { members: Array<Record<string, unknown>>; misses: object };
    expect(both.misses).toEqual({ manifests: 1, blobs: 0 });
    const [down, up] = both.members as [Record<string, unknown>, Record<string, unknown>];
    expect(down).toMatchObject({ name: 'down', signs_in: false, backed_off_until: new Date(failedAt + 30_000).toISOString(), last_failure: { at: new Date(failedAt).toISOString() } });
    expect(String((down.last_failure as { message: string }).message)).toMatch(/down/);
    expect(up.backed_off_until).toBeUndefined();
    clock.advance(30_000);
    const later = (await get(`${keel.url}/api/v1/upstreams/both`)).body as { members: Array<Record<string, unknown>> };
    expect(later.members[0]?.backed_off_until).toBeUndefined();
    expect(later.members[0]?.last_failure).toBeDefined();
  });

  test('by alias; unknown names 404, broken encoding 400, other methods refused', async () => {
    expect((await get(`${keel.url}/api/v1/upstreams/up.alias`)).body.name).toBe('up');
    expect(await get(`${keel.url}/api/v1/upstreams/nowhere.example`)).toMatchObject({ status: 404, body: { errors: [{ code: 'NAME_UNKNOWN' }] } });
    expect(await get(`${keel.url}/api/v1/upstreams/%E0%A4%A`)).toMatchObject({ status: 400, body: { errors: [{ code: 'UNSUPPORTED' }] } });
    const post = await fetch(`${keel.url}/api/v1/status`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('with auth on', () => {
  let secured: KeelProcess;
  beforeAll(async () => {
    secured = await startKeel({ root: await rootWithUsers('keel-status-auth', { ops: 'o-pass' }), toml: '[auth]\nhtpasswd = "htpasswd"\n' });
  });
  afterAll(async () => {
    await secured?.destroy();
  });

  test('anonymous callers are asked to sign in; a signed-in user reads both', async () => {
    for (const path of ['/api/v1/status', '/api/v1/upstreams']) {
      expect((await fetch(`${secured.url}${path}`)).status).toBe(401);
      const basic = { Authorization: `Basic ${Buffer.from('ops:o-pass').toString('base64')}` };
      expect((await fetch(`${secured.url}${path}`, { headers: basic })).status).toBe(200);
      const wrong = { Authorization: `Basic ${Buffer.from('ops:nope').toString('base64')}` };
      expect((await fetch(`${secured.url}${path}`, { headers: wrong })).status).toBe(401);
    }
  });
});
