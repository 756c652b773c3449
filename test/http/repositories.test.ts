// DELETE /api/v1/repositories/<name>: a repository deleted as a whole, with auth off and on,
// and its blobs freed by the next GC run.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { runGc } from '../../src/gc/run-gc.js';
import type { Digest } from '../../src/primitives/types.js';
import { blobPath } from '../../src/storage/fs/paths.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, errorCode } from '../support/oci-client.js';
import { rootWithUsers } from '../support/htpasswd.js';
import { keelToken } from '../support/tokens.js';

const HOUR = 3_600_000;

async function catalog(client: Client): Promise<string[]> {
  const res = await client.fetch('/v2/_catalog');
  expect(res.status).toBe(200);
  return ((await res.json()) as { repositories: string[] }).repositories;
}

describe('with auth off', () => {
  let keel: KeelProcess;
  let client: Client;
  const clock = new ManualClock();
  beforeAll(async () => {
    keel = await startKeel({ clock, toml: '[gc]\ngrace = "1h"\n' });
    client = new Client(keel.url);
  });
  afterAll(() => keel.destroy());

  test('deletes tags, manifests and links at once; the next GC frees the blobs no other repository uses', async () => {
    const doomed = await client.pushImage('team/doomed', 'v1');
    await client.pushManifest('team/doomed', 'v2', doomed.manifest, 'application/vnd.oci.image.manifest.v1+json');
    const other = await client.pushImage('team/other', 'v1');
    // A layer of team/other, mounted into team/doomed too.
    const shared = other.blobs[1] as { digest: string };
    const mount = await client.fetch(`/v2/team/doomed/blobs/uploads/?mount=${shared.digest}&from=team/other`, { method: 'POST' });
    expect(mount.status).toBe(201);
    expect(await catalog(client)).toEqual(['team/doomed', 'team/other']);

    const res = await client.fetch('/api/v1/repositories/team/doomed', { method: 'DELETE' });
    expect(res.status).toBe(202);
    // Links: the config, the two layers and the mounted layer.
    expect(await res.json()).toEqual({ repository: 'team/doomed', manifests: 1, tags: 2, links: doomed.blobs.length + 1 });

    expect(await catalog(client)).toEqual(['team/other']);
    const tags = await client.fetch('/v2/team/doomed/tags/list');
    expect(tags.status).toBe(404);
    expect(await errorCode(tags)).toBe('NAME_UNKNOWN');
    expect((await client.fetch('/v2/team/doomed/manifests/v1')).status).toBe(404);
    expect((await client.fetch(`/v2/team/doomed/blobs/${doomed.blobs[0]?.digest}`)).status).toBe(404);
    const again = await client.fetch('/api/v1/repositories/team/doomed', { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(await errorCode(again)).toBe('NAME_UNKNOWN');

    // Bytes stay until GC; then what only the deleted repository used goes, the mounted blob stays.
    const stored = (digest: string): boolean => existsSync(blobPath(keel.config.registry_storage, digest as Digest));
    for (const d of doomed.blobs) expect(stored(d.digest)).toBe(true);
    clock.advance(2 * HOUR);
    const summary = await runGc(keel.config, { stores: 'registry', dryRun: false, deleteUntagged: false }, { clock, logger: pino({ level: 'silent' }) });
    // The config, the layers and the manifest's content; not the layer team/other still uses.
    expect(summary.stores[0]?.blobs).toBe(doomed.blobs.length + 1);
    for (const d of doomed.blobs) expect(stored(d.digest)).toBe(false);
    expect(stored(doomed.digest)).toBe(false);
    expect(stored(shared.digest)).toBe(true);
    expect((await client.fetch(`/v2/team/other/blobs/${shared.digest}`)).status).toBe(200);
    expect((await client.fetch(`/v2/team/other/manifests/${other.digest}`)).status).toBe(200);

    // The name can be pushed to again.
    await client.pushImage('team/doomed', 'v3');
    expect(await catalog(client)).toEqual(['team/doomed', 'team/other']);
  });

  test('a tag cached a moment ago is forgotten with the repository', async () => {
    await client.pushImage('team/cached', 'v1');
    expect((await client.fetch('/v2/team/cached/manifests/v1')).status).toBe(200);
    expect((await client.fetch('/api/v1/repositories/team/cached', { method: 'DELETE' })).status).toBe(202);
    expect((await client.fetch('/v2/team/cached/manifests/v1')).status).toBe(404);
  });

  test('proxy/ names are DENIED, bad names NAME_INVALID, other methods UNSUPPORTED', async () => {
    const proxy = await client.fetch('/api/v1/repositories/proxy/docker.io/library/alpine', { method: 'DELETE' });
    expect(proxy.status).toBe(403);
    expect(await errorCode(proxy)).toBe('DENIED');
    const bad = await client.fetch('/api/v1/repositories/UPPER/case', { method: 'DELETE' });
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe('NAME_INVALID');
    const get = await client.fetch('/api/v1/repositories/team/other');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('DELETE');
    expect(await errorCode(get)).toBe('UNSUPPORTED');
  });
});

describe('with auth on', () => {
  let keel: KeelProcess;
  const users = { admin: 'a-pass', writer: 'w-pass' };
  const basic = (user: keyof typeof users): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(`${user}:${users[user]}`).toString('base64')}` });
  function token(user: keyof typeof users, ...scopes: string[]): Promise<string> {
    return keelToken(keel.url, scopes, { username: user, password: users[user] });
  }

  beforeAll(async () => {
    const root = await rootWithUsers('keel-repo-delete-auth', users);
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
repository = "team/**"
users = ["writer"]
actions = ["pull", "push"]
`,
    });
  });
  afterAll(() => keel.destroy());

  test('unauthenticated is 401, a user without delete is DENIED, a user with delete removes it', async () => {
    const writer = new Client(keel.url, { Authorization: `Bearer ${await token('writer', 'repository:team/app:pull,push', 'repository:team/kept:pull,push')}` });
    await writer.pushImage('team/app', 'v1');
    await writer.pushImage('team/kept', 'v1');
    const url = `${keel.url}/api/v1/repositories/team/app`;

    const none = await fetch(url, { method: 'DELETE' });
    expect(none.status).toBe(401);
    expect(await errorCode(none)).toBe('UNAUTHORIZED');
    expect(none.headers.get('www-authenticate')).toBe(`Bearer realm="${keel.url}/token",service="keel",scope="repository:team/app:delete"`);

    const wrong = await fetch(url, { method: 'DELETE', headers: { Authorization: `Basic ${Buffer.from('writer:nope').toString('base64')}` } });
    expect(wrong.status).toBe(401);

    const denied = await fetch(url, { method: 'DELETE', headers: basic('writer') });
    expect(denied.status).toBe(403);
    expect(await errorCode(denied)).toBe('DENIED');
    // A token the writer asked delete for does not carry it either: DENIED, not a challenge loop.
    const deniedToken = await fetch(url, { method: 'DELETE', headers: { Authorization: `Bearer ${await token('writer', 'repository:team/app:delete')}` } });
    expect(deniedToken.status).toBe(403);
    expect(await errorCode(deniedToken)).toBe('DENIED');

    const admin = new Client(keel.url, { Authorization: `Bearer ${await token('admin', 'registry:catalog:*')}` });
    expect(await catalog(admin)).toEqual(['team/app', 'team/kept']);

    const deleted = await fetch(url, { method: 'DELETE', headers: { Authorization: `Bearer ${await token('admin', 'repository:team/app:delete')}` } });
    expect(deleted.status).toBe(202);
    expect(await catalog(admin)).toEqual(['team/kept']);
    const reader = new Client(keel.url, { Authorization: `Bearer ${await token('admin', 'repository:team/app:pull')}` });
    const tags = await reader.fetch('/v2/team/app/tags/list');
    expect(tags.status).toBe(404);
    expect(await errorCode(tags)).toBe('NAME_UNKNOWN');

    // Basic credentials work as well (curl).
    expect((await fetch(`${keel.url}/api/v1/repositories/team/kept`, { method: 'DELETE', headers: basic('admin') })).status).toBe(202);
    expect(await catalog(admin)).toEqual([]);
  });

  test('proxy/ is DENIED even to a user who may delete everything', async () => {
    const res = await fetch(`${keel.url}/api/v1/repositories/proxy/docker.io/library/alpine`, { method: 'DELETE', headers: basic('admin') });
    expect(res.status).toBe(403);
    const { errors } = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    expect(errors[0]?.code).toBe('DENIED');
    expect(errors[0]?.message).toMatch(/read-only/);
  });
});
