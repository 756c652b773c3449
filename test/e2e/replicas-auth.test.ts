// Tokens across three Keel replicas (auth on, one htpasswd file each, same users): a token
// replica r0 issued is accepted by r1 and r2, asked directly, for pulls and pushes; and behind
// nginx the challenge names the balancer's address as the token realm (nginx passes Host on).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { clusterDatabase } from '../support/cluster-database.js';
import { htpasswdLines } from '../support/htpasswd.js';
import { startCluster, type KeelCluster } from '../support/keel-cluster.js';
import { sha256 } from '../support/oci-client.js';

const USER = 'ha-user';
const PASSWORD = 'ha password 1';
let cluster: KeelCluster;

beforeAll(async () => {
  cluster = await startCluster({
    database: clusterDatabase(),
    s3MemoryBytes: 1024 ** 3,
    files: { htpasswd: await htpasswdLines({ [USER]: PASSWORD }) },
    toml: '[auth]\nhtpasswd = "htpasswd"\n',
  });
}, 240_000);
afterAll(() => cluster?.stop(), 120_000);

const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

function replica(i: number): { url: string; name: string } {
  const r = cluster.replicas[i];
  if (!r) throw new Error(`no replica ${i}`);
  return r;
}

async function tokenFrom(base: string, scope: string): Promise<string> {
  const res = await fetch(`${base}/token?service=keel&scope=${encodeURIComponent(scope)}`, { headers: { Authorization: basic } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

test('through the balancer the challenge names the balancer as the token realm', async () => {
  const res = await fetch(`${cluster.lb.url}/v2/`);
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toContain(`realm="${cluster.lb.url}/token"`);
});

test('a token issued by r0 is accepted by r1 and r2: a push on r1, a pull on r2', async () => {
  const token = await tokenFrom(replica(0).url, 'repository:ha/auth:pull,push');
  const bearer = { Authorization: `Bearer ${token}` };
  for (const i of [1, 2]) {
    const res = await fetch(`${replica(i).url}/v2/`, { headers: bearer });
    expect([replica(i).name, res.status]).toEqual([replica(i).name, 200]);
  }
  // Without the token the same request is refused: the 200s above are the token's doing.
  expect((await fetch(`${replica(1).url}/v2/`)).status).toBe(401);

  const data = randomBytes(64 * 1024);
  const digest = sha256(data);
  const push = await fetch(`${replica(1).url}/v2/ha/auth/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data, headers: bearer });
  expect(push.status).toBe(201);
  const pull = await fetch(`${replica(2).url}/v2/ha/auth/blobs/${digest}`, { headers: bearer });
  expect(pull.status).toBe(200);
  expect(sha256(Buffer.from(await pull.arrayBuffer()))).toBe(digest);
});

test('a token of the balancer\'s realm works on every replica behind it', async () => {
  const token = await tokenFrom(cluster.lb.url, 'repository:ha/auth:pull');
  for (const r of cluster.replicas) {
    const res = await fetch(`${r.url}/v2/`, { headers: { Authorization: `Bearer ${token}` } });
    expect([r.name, res.status]).toEqual([r.name, 200]);
  }
});
