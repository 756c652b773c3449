// A [[proxy.sync]] glob against upstreams whose catalog a real registry will not vary on
// demand (a hand-written upstream, fault-upstream.ts, driven by a ManualClock): one that
// refuses /v2/_catalog behind a Bearer challenge (as Docker Hub does), one without it (404),
// then one that serves it in two pages and only with a token scoped registry:catalog:*.
// A refused catalog fails the run with a message saying to name the repositories literally,
// and the run backs off like any failure; a served one is followed page by page.
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { loggerInto, type LogLine } from '../support/log-lines.js';
import { ManualClock } from '../support/manual-clock.js';

const HOUR = 3_600_000;
const CATALOG_TOKEN = 'Bearer t-registry:catalog:*';
let upstream: FaultServer;
let keel: KeelProcess;
const clock = new ManualClock();
const logs: LogLine[] = [];
let catalog: 'refused' | 'missing' | 'served' = 'refused';
const tokenScopes: string[] = [];
let runs = 0;

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const requested = (part: string): string[] => upstream.requests.map((r) => r.path).filter((p) => p.includes(part));

beforeAll(async () => {
  upstream = await startFaultServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (url.pathname === '/token') {
      const scope = url.searchParams.get('scope') ?? '';
      tokenScopes.push(scope);
      json(res, 200, { token: `t-${scope}`, expires_in: 3600 });
      return;
    }
    if (url.pathname === '/v2/_catalog') {
      if (catalog === 'missing') return json(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no such route' }] });
      if (catalog === 'refused' || req.headers.authorization !== CATALOG_TOKEN) {
        return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'WWW-Authenticate': `Bearer realm="${upstream.url}/token",service="fault"` });
      }
      if (url.searchParams.get('last') === null) return json(res, 200, { repositories: ['glob/a', 'other/x'] }, { Link: '</v2/_catalog?last=other%2Fx&n=100>; rel="next"' });
      return json(res, 200, { repositories: ['glob/b', 'glob/Not A Name', 'glob/deeper/c'] });
    }
    const tags = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    if (tags) return json(res, 200, { name: tags[1], tags: [] });
    json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'unknown' }] });
  });
  keel = await startKeel({
    clock,
    logger: loggerInto(logs),
    toml: `
[proxy.upstreams.fault]
url = "${upstream.url}"
allow_private = true
timeout = "10s"

[[proxy.sync]]
upstream = "fault"
repositories = ["lit/one", "glob/*"]
interval = "1h"
`,
  });
}, 60_000);

afterAll(async () => {
  await keel?.destroy();
  await upstream?.stop();
});

describe('[[proxy.sync]] globs and the upstream catalog', () => {
  test('a catalog refused behind a Bearer challenge fails the run, saying to name the repositories literally', async () => {
    const run = await keel.running.sync.completed(0, ++runs);
    const message = 'glob/*: listing the upstream\'s repositories: the upstream "fault" does not list its repositories (_catalog answered HTTP 401); name them literally';
    expect(run).toMatchObject({ outcome: 'failed', references: [], images: [], error: message, nextAt: clock.now() + 60_000 });
    // Keel asked for a token scoped to the catalog, then again with it; no tag list of any repository.
    expect(tokenScopes).toEqual(['registry:catalog:*']);
    expect(upstream.requests.filter((r) => r.path === '/v2/_catalog?n=100').map((r) => r.authorization)).toEqual([undefined, CATALOG_TOKEN]);
    expect(requested('/tags/list')).toEqual([]);
    expect(logs.some((l) => l.msg === 'sync: run failed' && l.error === message && l.retry_in_ms === 60_000)).toBe(true);
    // The server is fine: it still answers.
    expect((await fetch(`${keel.url}/v2/`)).status).toBe(200);
  });

  test('a registry without a catalog (404) fails the next run the same way, backing off further', async () => {
    catalog = 'missing';
    clock.advance(60_000);
    const run = await keel.running.sync.completed(0, ++runs);
    expect(run).toMatchObject({ outcome: 'failed', nextAt: clock.now() + 120_000 });
    expect(run.error).toMatch(/the upstream "fault" does not list its repositories \(_catalog answered HTTP 404\); name them literally$/);
    expect(requested('/tags/list')).toEqual([]);
  });

  test('a served catalog is read page by page with the catalog token; literal names and matching repositories are synced', async () => {
    catalog = 'served';
    const before = upstream.requests.length;
    clock.advance(120_000);
    const run = await keel.running.sync.completed(0, ++runs);
    // The tag lists are empty: nothing to warm, but each repository synced was asked for its tags.
    expect(run).toMatchObject({ outcome: 'synced', references: [], nextAt: clock.now() + HOUR });
    const asked = upstream.requests.slice(before);
    expect(asked.filter((r) => r.path.startsWith('/v2/_catalog')).map((r) => [r.path, r.authorization])).toEqual([
      ['/v2/_catalog?n=100', CATALOG_TOKEN],
      ['/v2/_catalog?last=other%2Fx&n=100', CATALOG_TOKEN],
    ]);
    // lit/one as given, then glob/a and glob/b from the catalog; not other/x, not a level deeper, not a name that is none.
    expect(asked.filter((r) => r.path.includes('/tags/list')).map((r) => r.path)).toEqual(['/v2/lit/one/tags/list', '/v2/glob/a/tags/list', '/v2/glob/b/tags/list']);
  });
});
