// Keel as a real process on a PostgreSQL index (database = "postgres://..."): a push and a
// pull over HTTP land in and come from PostgreSQL, a second Keel on the same database serves
// what the first stored, the password never reaches the log, and an unusable database stops
// start-up with one line naming `database`.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import pg from 'pg';
import { spawnKeel, type KeelChild } from '../support/keel-process.js';
import { freePort } from '../support/e2e/ports.js';
import { Client, errorCode, OCI_MANIFEST, sha256 } from '../support/oci-client.js';
import { PASSWORD_ROLE, startPostgres, type PostgresServer } from '../support/postgres.js';

jest.setTimeout(120_000);

const PASSWORD = 'never-in-a-log-7f3a';

let postgres: PostgresServer;

beforeAll(async () => {
  postgres = await startPostgres();
});

afterAll(async () => {
  await postgres?.stop();
});

/** The URL with a password in it (the test cluster trusts loopback, so any password is accepted). */
function withPassword(url: string): string {
  return url.replace('postgres://keel@', `postgres://keel:${PASSWORD}@`);
}

async function startupFailure(toml: string): Promise<string> {
  try {
    const keel = await spawnKeel(toml);
    await keel.stop();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('keel started');
}

describe('Keel on PostgreSQL', () => {
  test('push and pull over HTTP; a second Keel on the same database serves the same image; no password in the logs', async () => {
    const url = withPassword(await postgres.createDatabase());
    const children: KeelChild[] = [];
    try {
      const a = await spawnKeel(`database = "${url}"\n`);
      children.push(a);
      const client = new Client(a.url);
      const { digest, manifest, blobs } = await client.pushImage('team/app', 'v1', { layers: 2, layerSize: 64 * 1024 });

      const pulled = await client.fetch('/v2/team/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
      expect(pulled.status).toBe(200);
      expect(pulled.headers.get('docker-content-digest')).toBe(digest);
      expect(await pulled.json()).toEqual(manifest);
      for (const blob of blobs) {
        const res = await client.fetch(`/v2/team/app/blobs/${blob.digest}`);
        expect(res.status).toBe(200);
        expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(blob.digest);
      }

      // The records are in PostgreSQL, not in a SQLite file.
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      try {
        const tags = await db.query<{ name: string; digest: string }>('SELECT t.name, t.digest FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = $1', ['team/app']);
        expect(tags.rows).toEqual([{ name: 'v1', digest }]);
        const links = await db.query('SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id WHERE r.name = $1', ['team/app']);
        expect(links.rowCount).toBe(blobs.length);
      } finally {
        await db.end();
      }

      // A second process on the same database and the same registry storage (as replicas share a bucket).
      const b = await spawnKeel(`database = "${url}"\nregistry_storage = "${a.root}/storage/registry"\n`);
      children.push(b);
      const fromB = await new Client(b.url).fetch('/v2/team/app/manifests/v1', { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
      expect(fromB.status).toBe(200);
      expect(fromB.headers.get('docker-content-digest')).toBe(digest);
      const tagsB = await new Client(b.url).fetch('/v2/team/app/tags/list');
      expect(await tagsB.json()).toEqual({ name: 'team/app', tags: ['v1'] });

      for (const child of children) {
        expect(child.output()).toMatch(/"msg":"keel listening"/);
        expect(child.output()).toContain(`"database":"postgres://keel:***@127.0.0.1:${postgres.port}/`);
        expect(child.output()).not.toContain(PASSWORD);
      }
    } finally {
      await Promise.all(children.map((c) => c.stop()));
    }
  });

  test('a port nobody listens on: one line naming database, the password hidden', async () => {
    const port = await freePort();
    const message = await startupFailure(`database = "postgres://keel:${PASSWORD}@127.0.0.1:${port}/keel"\n`);
    const line = message.slice(message.indexOf('keel: '));
    expect(line.trim().split('\n')).toHaveLength(1);
    expect(line).toMatch(new RegExp(`^keel: cannot start: database "postgres://keel:\\*\\*\\*@127\\.0\\.0\\.1:${port}/keel": cannot connect to PostgreSQL: connection refused; check the host and port`));
    expect(message).not.toContain(PASSWORD);
  });

  test('a database that does not exist: one line naming database and the missing database', async () => {
    const message = await startupFailure(`database = "postgres://keel@127.0.0.1:${postgres.port}/keel_nope"\n`);
    const line = message.slice(message.indexOf('keel: '));
    expect(line.trim().split('\n')).toHaveLength(1);
    expect(line).toMatch(/^keel: cannot start: database "postgres:\/\/keel@127\.0\.0\.1:\d+\/keel_nope": database "keel_nope" does not exist on the PostgreSQL server; create it/);
  });

  test('a refused password: one line naming database and the user, the password hidden', async () => {
    const db = new pg.Client({ connectionString: postgres.url });
    await db.connect();
    try {
      await db.query(`CREATE ROLE ${PASSWORD_ROLE} LOGIN PASSWORD 'the-right-one'`);
    } finally {
      await db.end();
    }
    const message = await startupFailure(`database = "postgres://${PASSWORD_ROLE}:${PASSWORD}@127.0.0.1:${postgres.port}/postgres"\n`);
    const line = message.slice(message.indexOf('keel: '));
    expect(line.trim().split('\n')).toHaveLength(1);
    expect(line).toMatch(new RegExp(`^keel: cannot start: database "postgres://${PASSWORD_ROLE}:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/postgres": PostgreSQL refused the password \\(password authentication failed for user "${PASSWORD_ROLE}"\\)`));
    expect(message).not.toContain(PASSWORD);
  });

  test('the database going away while Keel runs: 503 UNAVAILABLE with Retry-After, never a 500, and Keel keeps running', async () => {
    const own = await startPostgres();
    let keel: KeelChild | undefined;
    try {
      keel = await spawnKeel(`database = "${await own.createDatabase()}"\n`);
      const client = new Client(keel.url);
      const blob = await client.pushBlob('gone/app', 'before the database went away');
      await own.stop();
      for (const [method, path] of [['GET', '/v2/gone/app/tags/list'], ['HEAD', `/v2/gone/app/blobs/${blob.digest}`], ['POST', '/v2/gone/app/blobs/uploads/']] as const) {
        const res = await client.fetch(path, { method });
        expect({ method, status: res.status }).toEqual({ method, status: 503 });
        expect(res.headers.get('retry-after')).toBe('1');
        if (method !== 'HEAD') expect(await errorCode(res)).toBe('UNAVAILABLE');
      }
      // Still serving what needs no database.
      expect((await client.fetch('/v2/')).status).toBe(200);
    } finally {
      await keel?.stop();
      await own.stop();
    }
  });

  test('host, user and database from the PG* environment when the URL leaves them out', async () => {
    const url = await postgres.createDatabase();
    const name = new URL(url).pathname.slice(1);
    const saved = { PGHOST: process.env.PGHOST, PGPORT: process.env.PGPORT, PGUSER: process.env.PGUSER, PGDATABASE: process.env.PGDATABASE };
    Object.assign(process.env, { PGHOST: '127.0.0.1', PGPORT: String(postgres.port), PGUSER: 'keel', PGDATABASE: name });
    let keel: KeelChild | undefined;
    try {
      keel = await spawnKeel('database = "postgres://"\n');
      await new Client(keel.url).pushBlob('env/app', 'from the environment');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await keel?.stop();
    }
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const rows = await db.query('SELECT digest FROM blobs');
      expect(rows.rows).toEqual([{ digest: sha256('from the environment') }]);
    } finally {
      await db.end();
    }
  });
});
