import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import bcrypt from 'bcryptjs';
import { spawnKeel, type KeelChild } from '../support/keel-process.js';

// Keel as a real process (scripts/keel, from dist/: `npm run build` first), since SIGHUP is
// handled, or not, by the process itself.

const RELOADED = 'reloaded users and access rules';
const FAILED = 'reload failed: kept the previous users and access rules';

// One hash per user and password, so a line written again is the same line (bcrypt salts differ).
const hashes = new Map<string, string>();

async function htpasswd(users: Record<string, string>): Promise<string> {
  const hashOf = async (user: string, password: string): Promise<string> => {
    const key = `${user}:${password}`;
    const hash = hashes.get(key) ?? (await bcrypt.hash(password, 4));
    hashes.set(key, hash);
    return hash;
  };
  const lines = await Promise.all(Object.entries(users).map(async ([u, p]) => `${u}:${await hashOf(u, p)}`));
  return `${lines.join('\n')}\n`;
}

interface Grant {
  status: number;
  token?: string;
  access?: Array<{ type: string; name: string; actions: string[]; refused?: string[] }>;
}

async function signIn(keel: KeelChild, scope: string, user?: string, password?: string): Promise<Grant> {
  const headers: Record<string, string> = user ? { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } : {};
  const res = await fetch(`${keel.url}/token?service=keel&scope=${encodeURIComponent(scope)}`, { headers });
  if (res.status !== 200) {
    await res.arrayBuffer();
    return { status: res.status };
  }
  const { token } = (await res.json()) as { token: string };
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { access: Grant['access'] };
  return { status: 200, token, access: payload.access };
}

/** Starting an upload in team/app with a token: 202 when it may push. */
async function startUpload(keel: KeelChild, token: string): Promise<number> {
  const res = await fetch(`${keel.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

async function baseWith(keel: KeelChild, token: string): Promise<number> {
  const res = await fetch(`${keel.url}/v2/`, { headers: { Authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

function alive(keel: KeelChild): boolean {
  try {
    process.kill(keel.pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('SIGHUP with authentication on', () => {
  let dir: string;
  let keel: KeelChild;
  let configFile: string;
  let usersFile: string;
  const head = (file: string): string => `listen = "127.0.0.1:0"\n\n[auth]\nhtpasswd = "${file}"\n`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-sighup-'));
    usersFile = join(dir, 'htpasswd');
    await writeFile(usersFile, await htpasswd({ alice: 'a-pass', carol: 'c-old', dave: 'd-pass' }));
    keel = await spawnKeel(`
[auth]
htpasswd = "${usersFile}"

[[auth.access]]
repository = "**"
users = ["alice", "carol", "dave"]
actions = ["pull", "push"]
`);
    configFile = join(keel.root, 'keel.toml');
  }, 60_000);
  afterAll(async () => {
    await keel.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('re-reads users and rules, logs what changed, and old passwords and removed users stop working', async () => {
    expect((await signIn(keel, 'repository:team/app:pull', 'alice', 'a-pass')).status).toBe(200);
    // Remembered by the success cache: a reload must not let it sign in afterwards.
    expect((await signIn(keel, 'repository:team/app:pull', 'carol', 'c-old')).status).toBe(200);
    const aliceToken = (await signIn(keel, 'repository:team/app:pull', 'alice', 'a-pass')).token ?? '';
    const davePush = (await signIn(keel, 'repository:team/app:pull,push', 'dave', 'd-pass')).token ?? '';
    expect(await startUpload(keel, davePush)).toBe(202);
    expect((await signIn(keel, 'repository:public/base:pull')).access).toEqual([{ type: 'repository', name: 'public/base', actions: [], refused: ['pull'] }]);

    await writeFile(usersFile, await htpasswd({ bob: 'b-pass', carol: 'c-new', dave: 'd-pass' }));
    await writeFile(
      configFile,
      `${head(usersFile)}
[auth.groups]
devs = ["bob", "dave"]

[[auth.access]]
repository = "team/**"
users = ["group:devs", "carol"]
actions = ["pull"]

[[auth.access]]
repository = "public/**"
users = ["anonymous"]
actions = ["pull"]

[limits]
max_list_page = 7
`,
    );
    const reloaded = keel.nextLog(RELOADED);
    const pending = keel.nextLog(/needs a restart/);
    process.kill(keel.pid, 'SIGHUP');
    const entry = await reloaded;
    expect(entry).toMatchObject({
      users: 3,
      users_added: ['bob'],
      users_removed: ['alice'],
      passwords_changed: ['carol'],
      rules_before: 1,
      rules_after: 2,
    });
    expect((await pending).settings).toEqual(['limits.max_list_page']);
    expect(keel.output()).not.toMatch(/\$2[aby]\$/);

    expect((await signIn(keel, 'repository:team/app:pull', 'bob', 'b-pass')).status).toBe(200);
    expect((await signIn(keel, 'repository:team/app:pull', 'alice', 'a-pass')).status).toBe(401);
    expect((await signIn(keel, 'repository:team/app:pull', 'carol', 'c-old')).status).toBe(401);
    expect((await signIn(keel, 'repository:team/app:pull', 'carol', 'c-new')).status).toBe(200);
    // The new rules: pull in team/** through the group, no push; anonymous pull in public/**.
    expect((await signIn(keel, 'repository:team/app:pull,push', 'bob', 'b-pass')).access).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull'], refused: ['push'] },
    ]);
    expect((await signIn(keel, 'repository:public/base:pull')).access).toEqual([{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
    // Tokens issued before: a removed user's is refused, and none carries more than the rules now give.
    expect(await baseWith(keel, aliceToken)).toBe(401);
    expect(await startUpload(keel, davePush)).toBe(401);
  }, 60_000);

  test('a broken htpasswd, bad TOML or an invalid rule keeps the users and rules in force', async () => {
    const broken: Array<{ file: string; text: string; says: RegExp }> = [
      { file: usersFile, text: 'bob:b-pass-in-clear\n', says: /htpasswd line 1: only bcrypt entries/ },
      // The parser quotes the lines around the error: they must not reach the log.
      { file: configFile, text: `${head(usersFile)}\n[proxy.upstreams.hub]\npassword = "hunter2-upstream"\n[[auth.access]\n`, says: /keel\.toml: not valid TOML/ },
      {
        file: configFile,
        text: `${head(usersFile)}\n[[auth.access]]\nrepository = "**"\nusers = ["group:nobody"]\nactions = ["pull"]\n`,
        says: /no group "nobody" under \[auth\.groups\]/,
      },
    ];
    for (const { file, text, says } of broken) {
      const before = file === usersFile ? undefined : await htpasswd({ bob: 'b-pass', carol: 'c-new', dave: 'd-pass' });
      if (before) await writeFile(usersFile, before);
      await writeFile(file, text);
      const failed = keel.nextLog(FAILED);
      process.kill(keel.pid, 'SIGHUP');
      expect(String((await failed).error)).toMatch(says);
      expect(keel.output()).not.toContain('hunter2');
      expect(alive(keel)).toBe(true);
      expect((await signIn(keel, 'repository:team/app:pull', 'bob', 'b-pass')).status).toBe(200);
      expect((await signIn(keel, 'repository:team/app:pull', 'alice', 'a-pass')).status).toBe(401);
      expect((await signIn(keel, 'repository:public/base:pull')).access).toEqual([{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
    }
  }, 60_000);
});

describe('SIGHUP with authentication off', () => {
  test('logs that there is nothing to reload and keeps serving', async () => {
    const keel = await spawnKeel();
    try {
      const logged = keel.nextLog(/nothing to reload; turning it on needs a restart/);
      process.kill(keel.pid, 'SIGHUP');
      await logged;
      expect(alive(keel)).toBe(true);
      expect((await fetch(`${keel.url}/v2/`)).status).toBe(200);
    } finally {
      await keel.stop();
    }
  }, 60_000);
});
