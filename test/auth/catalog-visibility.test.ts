/**
 * With auth on, the catalog shows a user only what they may pull — and its pages and their
 * Link headers are built from those names alone, so walking it with n=1 reveals nothing hidden.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client } from '../support/oci-client.js';
import { rootWithUsers } from '../support/htpasswd.js';
import { keelToken } from '../support/tokens.js';

let keel: KeelProcess;
const users = { writer: 'w-pass', reader: 'r-pass' };

function token(scopes: string[], user: keyof typeof users): Promise<string> {
  return keelToken(keel.url, scopes, { username: user, password: users[user] });
}

beforeAll(async () => {
  const root = await rootWithUsers('keel-catalog', users);
  keel = await startKeel({
    root,
    toml: `
[auth]
htpasswd = "htpasswd"

[[auth.access]]
repository = "**"
users = ["writer"]
actions = ["pull", "push", "delete"]

[[auth.access]]
repository = "team/**"
users = ["reader"]
actions = ["pull"]
`,
  });
  const repos = ['aaa/x', 'eve/x', 'eve/y', 'team/a', 'team/b', 'zed/x', 'zed/y'];
  const writer = new Client(keel.url, { Authorization: `Bearer ${await token(repos.map((r) => `repository:${r}:pull,push`), 'writer')}` });
  for (const repo of repos) await writer.pushImage(repo, 'v1');
}, 60_000);
afterAll(() => keel.destroy());

describe('the catalog with auth on', () => {
  test('walking it with n=1 lists only visible names, and no Link header names a hidden one', async () => {
    const reader = new Client(keel.url, { Authorization: `Bearer ${await token(['registry:catalog:*'], 'reader')}` });
    const seen: string[] = [];
    const cursors: string[] = [];
    let path: string | undefined = '/v2/_catalog?n=1';
    for (let pages = 0; path !== undefined && pages < 20; pages++) {
      const res = await reader.fetch(path);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { repositories: string[] };
      seen.push(...body.repositories);
      const link = res.headers.get('link');
      if (link === null) {
        path = undefined;
        continue;
      }
      // A next link is only given with a full page, and points just past its last name.
      expect(body.repositories).toHaveLength(1);
      path = /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
      expect(path).toBeDefined();
      cursors.push(new URL(path as string, keel.url).searchParams.get('last') ?? '');
    }
    expect(seen).toEqual(['team/a', 'team/b']);
    expect(cursors).toEqual(['team/a']);
  });

  test('a page of n=2 holds two visible names even when hidden ones sort between them', async () => {
    const reader = new Client(keel.url, { Authorization: `Bearer ${await token(['registry:catalog:*'], 'reader')}` });
    const res = await reader.fetch('/v2/_catalog?n=2');
    expect(((await res.json()) as { repositories: string[] }).repositories).toEqual(['team/a', 'team/b']);
    expect(res.headers.get('link')).toBeNull();
  });

  test('a user who sees everything pages through everything', async () => {
    const writer = new Client(keel.url, { Authorization: `Bearer ${await token(['registry:catalog:*'], 'writer')}` });
    const res = await writer.fetch('/v2/_catalog?n=3');
    expect(((await res.json()) as { repositories: string[] }).repositories).toEqual(['aaa/x', 'eve/x', 'eve/y']);
    expect(res.headers.get('link')).toBe('</v2/_catalog?n=3&last=eve%2Fy>; rel="next"');
  });
});
