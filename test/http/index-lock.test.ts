/**
 * Writes while another connection holds the index's write lock (as `scripts/gc` does in its
 * batches): the server waits for the lock without blocking its event loop, so other requests
 * are answered meanwhile; the write then succeeds, or past the wait bound is refused with a
 * retryable 503, never a 500. The lock is held by a second connection in this process with
 * BEGIN IMMEDIATE: taking it does not wait, and it is released when the test says so.
 * Time is a ManualClock: the bound passes only when the test moves the clock.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { INDEX_WRITE_WAIT_MS } from '../../src/storage/sqlite/sqlite-writer.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, OCI_MANIFEST, errorCode, randomBytes, sha256 } from '../support/oci-client.js';

let keel: KeelProcess;
let client: Client;
let lock: Database.Database;
const clock = new ManualClock();

beforeAll(async () => {
  keel = await startKeel({ clock, toml: '[metrics]\nenabled = true\n' });
  client = new Client(keel.url);
  lock = new Database(keel.config.database);
  // This connection never waits: it takes the lock only when nobody holds it.
  lock.pragma('busy_timeout = 0');
});
afterEach(() => {
  if (lock.inTransaction) lock.exec('ROLLBACK');
});
afterAll(async () => {
  lock.close();
  await keel.destroy();
});

/** Index writes that have found the lock held so far (keel_index_write_waits_total). */
async function writeWaits(): Promise<number> {
  const text = await (await client.fetch('/metrics')).text();
  return Number(/^keel_index_write_waits_total (\d+)$/m.exec(text)?.[1] ?? 0);
}

/** A request whose settling can be asked about without awaiting it. */
function pending(res: Promise<Response>): { settled: () => boolean; res: Promise<Response> } {
  let done = false;
  void res.then(
    () => (done = true),
    () => (done = true),
  );
  return { settled: () => done, res };
}

/** Polls /metrics until `count` writes wait, or one of `requests` settles first (which is then a failure). */
async function untilWaiting(count: number, requests: Array<{ settled: () => boolean }>): Promise<void> {
  while (!requests.some((r) => r.settled()) && (await writeWaits()) < count) await new Promise((r) => setTimeout(r, 5));
}

async function manifestFor(repo: string): Promise<string> {
  const config = await client.pushBlob(repo, JSON.stringify({ architecture: 'amd64', os: 'linux', n: Math.random() }));
  const layer = await client.pushBlob(repo, randomBytes(1024));
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { ...config, mediaType: 'application/vnd.oci.image.config.v1+json' },
    layers: [{ ...layer, mediaType: 'application/vnd.oci.image.layer.v1.tar' }],
  });
}

const putManifest = (repo: string, tag: string, body: string): Promise<Response> =>
  client.fetch(`/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body });

describe('index write lock held by another connection', () => {
  test('a manifest PUT and a blob upload wait while /health and /v2/ answer; after release they succeed', async () => {
    const body = await manifestFor('lock/app');
    const blob = randomBytes(512);
    const before = await writeWaits();

    lock.exec('BEGIN IMMEDIATE');
    const put = pending(putManifest('lock/app', 'v1', body));
    const upload = pending(client.fetch(`/v2/lock/app/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob }));
    await untilWaiting(before + 2, [put, upload]);
    expect([put.settled(), upload.settled()]).toEqual([false, false]);

    // The server answers other requests while both writes wait for the lock.
    expect((await client.fetch('/health')).status).toBe(200);
    expect((await client.fetch('/v2/')).status).toBe(200);
    // A read of the index too: the tag is not there yet.
    const tags = await client.fetch('/v2/lock/app/tags/list');
    expect(tags.status).toBe(200);
    expect(((await tags.json()) as { tags: string[] }).tags).not.toContain('v1');
    expect([put.settled(), upload.settled()]).toEqual([false, false]);

    lock.exec('COMMIT');
    const [putRes, uploadRes] = await Promise.all([put.res, upload.res]);
    expect(putRes.status).toBe(201);
    expect(uploadRes.status).toBe(201);
    const got = await client.fetch('/v2/lock/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
    expect(got.status).toBe(200);
    expect(await got.text()).toBe(body);
    expect((await client.fetch(`/v2/lock/app/blobs/${sha256(blob)}`)).status).toBe(200);
  });

  test('another writer committing while the PUT waits: the PUT then lands on the new state, 201', async () => {
    // The retry is a fresh IMMEDIATE transaction: it reads after the other commit, not a stale snapshot.
    const body = await manifestFor('lock/moved');
    const before = await writeWaits();
    lock.exec('BEGIN IMMEDIATE');
    lock.prepare("INSERT INTO uploads (id, repository, created_at, updated_at) VALUES ('other-writer', 'lock/moved', 0, 0)").run();
    const put = pending(putManifest('lock/moved', 'v1', body));
    await untilWaiting(before + 1, [put]);
    expect(put.settled()).toBe(false);
    lock.exec('COMMIT');
    expect((await put.res).status).toBe(201);
  });

  test('a write still locked out past the wait bound is a 503 UNAVAILABLE with Retry-After, and works once the lock is free', async () => {
    const body = await manifestFor('lock/bound');
    const before = await writeWaits();
    lock.exec('BEGIN IMMEDIATE');
    const put = pending(putManifest('lock/bound', 'v1', body));
    const del = pending(client.fetch('/v2/lock/app/manifests/v1', { method: 'DELETE' }));
    await untilWaiting(before + 2, [put, del]);
    expect([put.settled(), del.settled()]).toEqual([false, false]);

    clock.advance(INDEX_WRITE_WAIT_MS);
    const [putRes, delRes] = await Promise.all([put.res, del.res]);
    for (const res of [putRes, delRes]) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await errorCode(res)).toBe('UNAVAILABLE');
    }

    lock.exec('ROLLBACK');
    // Nothing half-written: the refused PUT left no tag; pushed again, it lands; the refused delete deleted nothing.
    expect((await client.fetch('/v2/lock/bound/manifests/v1', { method: 'HEAD' })).status).toBe(404);
    expect((await putManifest('lock/bound', 'v1', body)).status).toBe(201);
    expect((await client.fetch('/v2/lock/app/manifests/v1', { method: 'HEAD' })).status).toBe(200);
  });
});
