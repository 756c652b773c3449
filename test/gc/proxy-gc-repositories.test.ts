// Proxy GC and the record of which repositories a cached blob may be served to: the rows go
// with their blob, and a blob evicted and fetched again is not served to a repository that
// was only known from before. The upstream is a second Keel on loopback; the index is read
// from its file, as the GC process reads it.
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { runGc } from '../../src/gc/run-gc.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, randomBytes } from '../support/oci-client.js';

const DAY = 86_400_000;
let upstream: KeelProcess;
let up: Client;
let keel: KeelProcess;
let client: Client;
let clock: ManualClock;

beforeAll(async () => {
  upstream = await startKeel();
  up = new Client(upstream.url);
});
afterAll(() => upstream.destroy());

beforeEach(async () => {
  clock = new ManualClock();
  keel = await startKeel({ clock, toml: `[proxy.upstreams.up]\nurl = "${upstream.url}"\nallow_private = true\n[gc]\ngrace = "1h"\n` });
  client = new Client(keel.url);
});
afterEach(() => keel.destroy());

/** The repositories each digest is recorded in, from Keel's index file. */
function recorded(digests: string[]): Record<string, string[]> {
  const db = new Database(keel.config.database, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare<[], { repository: string; digest: string }>('SELECT repository, digest FROM proxy_blob_repositories ORDER BY repository').all();
    return Object.fromEntries(digests.map((d) => [d, rows.filter((r) => r.digest === d).map((r) => r.repository)]));
  } finally {
    db.close();
  }
}

test('evicted blobs take their repository rows with them; kept ones keep theirs', async () => {
  const old = await up.pushImage('lib/old', 'v1');
  const kept = await up.pushImage('lib/kept', 'v1');
  // lib/copy holds old's first layer upstream too: Keel learns that from a HEAD.
  const layer = (old.blobs[1] as { digest: string }).digest;
  expect((await up.fetch(`/v2/lib/copy/blobs/uploads/?mount=${layer}&from=lib/old`, { method: 'POST' })).status).toBe(201);

  expect((await client.fetch('/v2/proxy/up/lib/old/manifests/v1')).status).toBe(200);
  for (const b of old.blobs) expect((await client.fetch(`/v2/proxy/up/lib/old/blobs/${b.digest}`).then((r) => r.arrayBuffer())).byteLength).toBe(b.size);
  expect((await client.fetch(`/v2/proxy/up/lib/copy/blobs/${layer}`, { method: 'HEAD' })).status).toBe(200);
  clock.advance(20 * DAY);
  expect((await client.fetch('/v2/proxy/up/lib/kept/manifests/v1')).status).toBe(200);
  for (const b of kept.blobs) expect((await client.fetch(`/v2/proxy/up/lib/kept/blobs/${b.digest}`).then((r) => r.arrayBuffer())).byteLength).toBe(b.size);
  clock.advance(15 * DAY);

  const oldDigests = old.blobs.map((b) => b.digest);
  const keptDigests = kept.blobs.map((b) => b.digest);
  const before = recorded([...oldDigests, ...keptDigests]);
  expect(before[layer]).toEqual(['lib/copy', 'lib/old']);
  for (const d of [...oldDigests, ...keptDigests]) expect((before[d] ?? []).length).toBeGreaterThan(0);

  const config = parseConfig('[gc]\ngrace = "1h"\n[gc.proxy]\nmax_age = "30d"\n', 'gc test', keel.root);
  await runGc({ ...keel.config, gc: config.gc }, { stores: 'proxy', dryRun: false, deleteUntagged: false }, { clock, logger: pino({ level: 'silent' }) });

  const after = recorded([...oldDigests, ...keptDigests]);
  for (const d of oldDigests) expect([d, after[d]]).toEqual([d, []]);
  for (const d of keptDigests) expect([d, after[d]]).toEqual([d, ['lib/kept']]);

  // Fetched again for lib/old, the blob is not taken as known in lib/copy from before: asked anew.
  expect((await client.fetch(`/v2/proxy/up/lib/old/blobs/${layer}`).then((r) => r.arrayBuffer())).byteLength).toBe((old.blobs[1] as { size: number }).size);
  expect(recorded([layer])[layer]).toEqual(['lib/old']);
});
