/**
 * What replicas on one PostgreSQL index (IndexSet.shared) must agree on, shown with Keel
 * processes from dist/ on a real PostgreSQL and one storage directory: one token signing key
 * (kept in the index, nothing on local disk; a token from one replica works on the other), no
 * per-process memory of tags or blob links (a tag moved or a blob deleted on one replica is
 * seen on the other at the next request), and /ready naming the database when it stops
 * answering.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { rootWithUsers } from '../support/htpasswd.js';
import { Client, OCI_MANIFEST, randomBytes } from '../support/oci-client.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { startReplicas, type Replicas } from '../support/replicas.js';
import { keelToken } from '../support/tokens.js';

jest.setTimeout(120_000);

const alice = { username: 'alice', password: 'alice-pass' };
let postgres: PostgresServer;
let replicas: Replicas;
let usersDir: string;
let a: string;
let b: string;

beforeAll(async () => {
  postgres = await startPostgres();
  usersDir = await rootWithUsers('keel-replica-users', { alice: alice.password });
  // Every replica gets the same users file, as a deployment would; none has a key file.
  replicas = await startReplicas(['a', 'b'], {
    database: await postgres.createDatabase(),
    extraToml: `[auth]\nhtpasswd = "${join(usersDir, 'htpasswd')}"\n`,
  });
  a = replicas.get('a').url;
  b = replicas.get('b').url;
}, 180_000);
afterAll(async () => {
  await replicas?.stop();
  await postgres?.stop();
  if (usersDir) await rm(usersDir, { recursive: true, force: true });
});

function logged(replica: string, msg: string): boolean {
  return replicas
    .get(replica)
    .output()
    .split('\n')
    .some((line) => line.includes(`"msg":"${msg}"`));
}

describe('the token signing key on a shared index', () => {
  test('the first replica created it in the index and the second uses that one; neither wrote a key file', () => {
    expect(logged('a', 'created a token signing key in the index for every replica')).toBe(true);
    expect(logged('b', 'signing tokens with the key the replicas share in the index')).toBe(true);
    for (const name of ['a', 'b']) expect(existsSync(join(replicas.get(name).root, 'storage/auth/signing-key.pem'))).toBe(false);
  });

  test('a token issued by replica A is accepted by replica B, for a push there and a pull back on A', async () => {
    const token = await keelToken(a, ['repository:team/app:pull,push'], alice);
    const onB = new Client(b, { Authorization: `Bearer ${token}` });
    expect((await onB.fetch('/v2/')).status).toBe(200);
    const image = await onB.pushImage('team/app', 'signed', { layers: 1 });
    const onA = new Client(a, { Authorization: `Bearer ${token}` });
    const pulled = await onA.fetch('/v2/team/app/manifests/signed', { headers: { Accept: OCI_MANIFEST } });
    expect(pulled.status).toBe(200);
    expect(pulled.headers.get('docker-content-digest')).toBe(image.digest);
    // Without a token the same request is challenged: it is the token that was accepted.
    expect((await new Client(b).fetch('/v2/team/app/manifests/signed')).status).toBe(401);
  });
});

describe('tags and blob links on a shared index', () => {
  let client: { a: Client; b: Client };
  beforeAll(async () => {
    const token = await keelToken(a, ['repository:team/moving:pull,push,delete'], alice);
    client = { a: new Client(a, { Authorization: `Bearer ${token}` }), b: new Client(b, { Authorization: `Bearer ${token}` }) };
  });

  test('a tag moved on A resolves to the new manifest on B at its next request, however soon', async () => {
    const digestOn = async (c: Client): Promise<string | null> => (await c.fetch('/v2/team/moving/manifests/latest', { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).headers.get('docker-content-digest');
    for (let round = 0; round < 5; round++) {
      // B looks the tag up (what a per-process cache would remember), then A moves it.
      const before = await client.a.pushImage('team/moving', 'latest', { layers: 1, layerSize: 100 });
      expect(await digestOn(client.b)).toBe(before.digest);
      const after = await client.a.pushImage('team/moving', 'latest', { layers: 1, layerSize: 100 });
      expect(after.digest).not.toBe(before.digest);
      expect(await digestOn(client.b)).toBe(after.digest);
    }
  });

  test('a blob deleted on A is unknown on B at its next request', async () => {
    const blob = await client.a.pushBlob('team/moving', randomBytes(1000));
    expect((await client.b.fetch(`/v2/team/moving/blobs/${blob.digest}`, { method: 'HEAD' })).status).toBe(200);
    expect((await client.a.fetch(`/v2/team/moving/blobs/${blob.digest}`, { method: 'DELETE' })).status).toBe(202);
    expect((await client.b.fetch(`/v2/team/moving/blobs/${blob.digest}`, { method: 'HEAD' })).status).toBe(404);
  });
});

describe('/ready on a shared index', () => {
  test('names the database (without a password) when PostgreSQL stops answering, and is ready again when it answers', async () => {
    expect((await fetch(`${b}/ready`)).status).toBe(200);
    // A stopped postmaster and backends keep their sockets open and answer nothing: a host that hangs.
    const backends = await postgresProcesses(postgres.pid);
    for (const pid of backends) process.kill(pid, 'SIGSTOP');
    let answer: { status: number; problems?: string[] | undefined };
    try {
      const res = await fetch(`${b}/ready`);
      answer = { status: res.status, problems: ((await res.json()) as { problems?: string[] }).problems };
    } finally {
      for (const pid of backends) process.kill(pid, 'SIGCONT');
    }
    expect(answer.status).toBe(503);
    expect(answer.problems).toEqual([expect.stringMatching(/^database "postgres:\/\/keel@127\.0\.0\.1:\d+\/keel_\d+": no answer within 5000 ms$/)]);
    expect((await fetch(`${b}/ready`)).status).toBe(200);
  });
});

/** The postmaster and every process it forked (its backends), from /proc. */
async function postgresProcesses(postmaster: number): Promise<number[]> {
  const pids = [postmaster];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Fields after the command (in parentheses): state, then the parent's PID.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (parent === postmaster) pids.push(Number(entry));
  }
  return pids;
}
