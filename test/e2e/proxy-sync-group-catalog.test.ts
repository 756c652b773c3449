// A [[proxy.sync]] glob on a group: the repositories are the union of its members' catalogs,
// each member listed on its own (they are separate registries). Two hand-written upstreams
// (fault-upstream.ts), driven by a ManualClock: "mirror" lists its repositories, "hub"
// refuses its catalog as Docker Hub does. A member that cannot list is logged and left out;
// the run fails only when no member can.
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startFaultServer, type FaultServer } from '../support/fault-upstream.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { loggerInto, type LogLine } from '../support/log-lines.js';
import { ManualClock } from '../support/manual-clock.js';

let mirror: FaultServer;
let hub: FaultServer;
let keel: KeelProcess;
const clock = new ManualClock();
const logs: LogLine[] = [];
let mirrorLists = true;
let runs = 0;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

const tagLists = (server: FaultServer): string[] => server.requests.map((r) => r.path).filter((p) => p.endsWith('/tags/list'));

beforeAll(async () => {
  hub = await startFaultServer((req, res) => {
    if (req.url?.startsWith('/v2/_catalog')) return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] });
  });
  mirror = await startFaultServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://mirror');
    if (url.pathname === '/v2/_catalog') {
      if (!mirrorLists) return json(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no such route' }] });
      return json(res, 200, { repositories: ['team/api', 'team/web', 'other/tool'] });
    }
    const tags = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    if (tags) return json(res, 200, { name: tags[1], tags: [] });
    json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'unknown' }] });
  });
  keel = await startKeel({
    clock,
    logger: loggerInto(logs),
    toml: `
[proxy.upstreams.hub]
url = "${hub.url}"
allow_private = true
timeout = "10s"

[proxy.upstreams.mirror]
url = "${mirror.url}"
allow_private = true
timeout = "10s"

[proxy.groups.both]
members = ["hub", "mirror"]

[[proxy.sync]]
upstream = "both"
repositories = ["team/*"]
interval = "1h"
`,
  });
}, 60_000);

afterAll(async () => {
  await keel?.destroy();
  await Promise.all([mirror?.stop(), hub?.stop()]);
});

describe('[[proxy.sync]] globs on a group', () => {
  test('the members that list their repositories give the glob its names; one that refuses is logged and left out', async () => {
    const run = await keel.running.sync.completed(0, ++runs);
    expect(run).toMatchObject({ outcome: 'synced', references: [] });
    // Each member was asked for its own catalog.
    expect(hub.requests.filter((r) => r.path.startsWith('/v2/_catalog'))).toHaveLength(1);
    expect(mirror.requests.filter((r) => r.path.startsWith('/v2/_catalog'))).toHaveLength(1);
    // team/api and team/web were synced through the group: hub first (not found), then mirror.
    expect(tagLists(hub)).toEqual(['/v2/team/api/tags/list', '/v2/team/web/tags/list']);
    expect(tagLists(mirror)).toEqual(['/v2/team/api/tags/list', '/v2/team/web/tags/list']);
    const warned = logs.find((l) => l.msg === 'sync: a group member does not list its repositories; the others are used');
    expect(warned).toMatchObject({ upstream: 'both', member: 'hub' });
    expect(String(warned?.error)).toMatch(/the upstream "hub" does not list its repositories \(_catalog answered HTTP 401\)/);
  });

  test('when no member lists its repositories the run fails, naming each', async () => {
    mirrorLists = false;
    clock.advance(3_600_000);
    const run = await keel.running.sync.completed(0, ++runs);
    expect(run).toMatchObject({ outcome: 'failed', references: [], nextAt: clock.now() + 60_000 });
    expect(run.error).toMatch(/^team\/\*: listing the upstream's repositories: no member of the group "both" lists its repositories \(hub: .*HTTP 401.*; mirror: .*HTTP 404.*\)$/);
  });
});
