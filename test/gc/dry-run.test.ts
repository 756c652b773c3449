/**
 * A dry run plans from the live index, read-only: on a registry with garbage of every kind it
 * writes nothing (the index's bytes and every file under the stores stay as they were), and
 * it reports exactly what a real run then deletes.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { runGc } from '../../src/gc/run-gc.js';
import type { GcSummary } from '../../src/gc/summary.js';
import type { Digest } from '../../src/primitives/types.js';
import { blobPath, ingestDir, uploadPath } from '../../src/storage/fs/paths.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { Client, randomBytes, sha256 } from '../support/oci-client.js';

const HOUR = 3_600_000;
let keel: KeelProcess;
let client: Client;
let clock: ManualClock;

beforeEach(async () => {
  clock = new ManualClock();
  keel = await startKeel({ clock, toml: '[gc]\ngrace = "1h"\nupload_max_age = "1h"\n' });
  client = new Client(keel.url);
});
afterEach(() => keel.destroy());

/**
 * Every file under `root`: path, size, mtime and a hash of its bytes. The index's -shm file is
 * SQLite's shared-memory coordination between connections (every reader takes a read mark in
 * it), not data: only its presence is compared; the database and its WAL are compared byte for byte.
 */
async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else {
        const info = await stat(path);
        if (path === `${keel.config.database}-shm`) {
          out[relative(root, path)] = 'present';
          continue;
        }
        out[relative(root, path)] = `${info.size} ${info.mtimeMs} ${createHash('sha256').update(await readFile(path)).digest('hex')}`;
      }
    }
  };
  await walk(root);
  return out;
}

const gc = (dryRun: boolean): Promise<GcSummary> =>
  runGc(keel.config, { stores: 'all', dryRun, deleteUntagged: true, list: true }, { clock, logger: pino({ level: 'silent' }) });

test('a dry run writes nothing, to the index or the stores, and reports what the real run then deletes', async () => {
  // Garbage of every kind: an untagged image (manifest, links, blobs), a repository it empties,
  // an abandoned upload session, content and temporary files nothing knows, upload bytes
  // without a session; a tagged image that stays.
  await client.pushImage('dry/kept', 'v1');
  await client.pushImage('dry/gone', 'v1');
  expect((await client.fetch('/v2/dry/gone/manifests/v1', { method: 'DELETE' })).status).toBe(202);
  const session = await client.fetch('/v2/dry/upload/blobs/uploads/', { method: 'POST' });
  const location = session.headers.get('location') as string;
  expect((await client.fetch(location, { method: 'PATCH', headers: { 'Content-Range': '0-999' }, body: randomBytes(1000) })).status).toBe(202);
  const orphan = blobPath(keel.config.registry_storage, sha256('left by a crash') as Digest);
  await mkdir(join(orphan, '..'), { recursive: true });
  await writeFile(orphan, 'left by a crash');
  await mkdir(ingestDir(keel.config.temporary_registry_storage), { recursive: true });
  await writeFile(join(ingestDir(keel.config.temporary_registry_storage), 'half-written'), 'partial');
  await writeFile(uploadPath(keel.config.temporary_registry_storage, 'no-such-session'), 'bytes of a lost session');
  clock.advance(2 * HOUR);
  // Unreferenced, but pushed within the grace period: kept and counted as such.
  await client.pushBlob('dry/kept', randomBytes(700));

  const before = await tree(keel.root);
  const dry = await gc(true);
  expect(await tree(keel.root)).toEqual(before);

  const registry = dry.stores[0];
  expect(registry).toMatchObject({ store: 'registry', manifests: 1, repositories: 1, uploads: 1, orphans: 3, keptByGrace: { blobs: 1, bytes: 700, manifests: 0 } });
  expect(registry?.blobs).toBeGreaterThanOrEqual(3);
  expect(registry?.links).toBeGreaterThanOrEqual(3);

  const real = await gc(false);
  expect(real.dryRun).toBe(false);
  expect(real.stores).toEqual(dry.stores);
  expect(real.items).toEqual(dry.items);
  expect(await tree(keel.root)).not.toEqual(before);
  expect((await client.fetch(location)).status).toBe(404);
  expect((await client.fetch('/v2/dry/gone/tags/list')).status).toBe(404);
  // Nothing left to do: a second dry run finds nothing.
  const after = await gc(true);
  expect(after.stores.map((s) => s.blobs + s.manifests + s.links + s.uploads + s.orphans + s.repositories)).toEqual([0, 0]);
});
