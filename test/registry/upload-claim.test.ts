/**
 * The writer's hold on an upload session, through UploadService on a real SQLite index and a
 * real filesystem store, on an injected clock: a hold some other request took (here or on
 * another replica, it is one row either way) refuses a chunk with 416 until it expires, a
 * finished request leaves no hold behind, and a second connection to the index file (another
 * process) sees the same holds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { digestBuffer } from '../../src/primitives/digest.js';
import { RegistryError } from '../../src/primitives/errors.js';
import { parseRepoName } from '../../src/primitives/types.js';
import { UploadService } from '../../src/registry/upload-service.js';
import { createFsBackend } from '../../src/storage/fs/fs-backend.js';
import type { IndexSet } from '../../src/storage/index-set.js';
import { openDatabase, sqliteIndexes } from '../../src/storage/indexes.js';
import type { StorageBackend } from '../../src/storage/backend.js';
import { ManualClock } from '../support/manual-clock.js';

const repo = parseRepoName('team/app');
const TTL = 30_000;
let dir: string;
let clock: ManualClock;
let here: IndexSet;
let elsewhere: IndexSet;
let backend: StorageBackend;
let uploads: UploadService;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-upload-claim-'));
  clock = new ManualClock(1_000_000);
  here = sqliteIndexes(openDatabase(join(dir, 'index.db')), { clock });
  // A second connection to the same file: another replica's process.
  elsewhere = sqliteIndexes(openDatabase(join(dir, 'index.db')), { clock });
  backend = createFsBackend({ root: join(dir, 'store'), tempRoot: join(dir, 'tmp') });
  uploads = new UploadService(here.registry, backend.blobs, backend.uploads, clock, 0, { ttlMs: TTL, holderPrefix: 'here' });
});
afterEach(async () => {
  await backend.close();
  await here.close();
  await elsewhere.close();
  await rm(dir, { recursive: true, force: true });
});

async function refusal(work: Promise<unknown>): Promise<RegistryError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof RegistryError)) throw new Error(`expected a RegistryError, got ${String(err)}`);
  return err;
}

describe('upload claims', () => {
  test('a hold taken on another connection refuses PATCH and PUT with 416 until it expires on the clock; then the chunk goes on', async () => {
    const id = await uploads.start(repo);
    expect(await elsewhere.registry.claimUpload(id, 'there/dead-request', clock.now() + TTL, clock.now())).toBe(true);
    const busy = await refusal(uploads.append(repo, id, Readable.from([Buffer.from('abc')]), { length: 3 }));
    expect(busy.code).toBe('BLOB_UPLOAD_INVALID');
    expect(busy.status).toBe(416);
    expect(busy.message).toMatch(/another request is writing to this upload session/);
    const put = await refusal(uploads.finish(repo, id, digestBuffer(Buffer.from('abc')), Readable.from([Buffer.from('abc')]), { length: 3 }));
    expect(put.status).toBe(416);
    expect(await uploads.offset(repo, id)).toBe(0);
    // One millisecond before the end the hold still stands; at its end it has lapsed.
    clock.advance(TTL - 1);
    expect((await refusal(uploads.append(repo, id, Readable.from([Buffer.from('abc')]), { length: 3 }))).status).toBe(416);
    clock.advance(1);
    expect(await uploads.append(repo, id, Readable.from([Buffer.from('abc')]), { length: 3 })).toBe(3);
    // The request that wrote let go: the other connection can take the session at once.
    expect(await elsewhere.registry.claimUpload(id, 'there/next', clock.now() + TTL, clock.now())).toBe(true);
    await elsewhere.registry.releaseUpload(id, 'there/next');
    await uploads.finish(repo, id, digestBuffer(Buffer.from('abc')), undefined, {});
    expect(await here.registry.repositoryBlobSize(repo, digestBuffer(Buffer.from('abc')))).toBe(3);
  });

  test('a failed chunk lets go of its hold too', async () => {
    const id = await uploads.start(repo);
    const short = await refusal(uploads.append(repo, id, Readable.from([Buffer.from('ab')]), { length: 3 }));
    expect(short.code).toBe('BLOB_UPLOAD_INVALID');
    expect(await elsewhere.registry.claimUpload(id, 'there/next', clock.now() + TTL, clock.now())).toBe(true);
  });

  test('a cancelled session is unknown to a later chunk, not busy', async () => {
    const id = await uploads.start(repo);
    await uploads.cancel(repo, id);
    expect((await refusal(uploads.append(repo, id, Readable.from([Buffer.from('abc')]), { length: 3 }))).code).toBe('BLOB_UPLOAD_UNKNOWN');
  });
});
