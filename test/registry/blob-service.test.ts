import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { BlobService } from '../../src/registry/blob-service.js';
import { digestBuffer } from '../../src/primitives/digest.js';
import { parseRepoName } from '../../src/primitives/types.js';
import type { StorageBackend } from '../../src/storage/backend.js';
import { createFsBackend } from '../../src/storage/fs/fs-backend.js';
import { blobPath } from '../../src/storage/fs/paths.js';
import type { ContentIntegrityError } from '../../src/storage/storage-errors.js';
import { openDatabase, SqliteIndex } from '../../src/storage/sqlite/sqlite-index.js';
import { ManualClock } from '../support/manual-clock.js';

let dir: string;
let index: SqliteIndex;
let other: SqliteIndex;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-blob-service-'));
  index = new SqliteIndex(openDatabase(join(dir, 'index.db')));
  // A second connection to the same file: another process, such as garbage collection.
  other = new SqliteIndex(openDatabase(join(dir, 'index.db')));
});
afterEach(async () => {
  index.close();
  other.close();
  await rm(dir, { recursive: true, force: true });
});

describe('BlobService.stat', () => {
  const repo = parseRepoName('team/app');
  const bytes = Buffer.from('layer');
  const digest = digestBuffer(bytes);

  async function service(clock: ManualClock): Promise<BlobService> {
    const content = createFsBackend({ root: join(dir, 'store'), tempRoot: join(dir, 'tmp') }).blobs;
    await content.writeBytes(digest, bytes);
    await index.linkBlob(repo, digest, bytes.length, clock.now());
    return new BlobService(index, content, clock);
  }

  test('remembers a size for a second; a change made by another process shows once that has passed', async () => {
    const clock = new ManualClock(0);
    const blobs = await service(clock);
    expect(await blobs.stat(repo, digest)).toBe(bytes.length);
    expect(await other.unlinkBlob(repo, digest)).toBe(true);
    clock.advance(999);
    expect(await blobs.stat(repo, digest)).toBe(bytes.length);
    clock.advance(1);
    await expect(blobs.stat(repo, digest)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
  });

  test('a delete through the service is seen at once', async () => {
    const clock = new ManualClock(0);
    const blobs = await service(clock);
    expect(await blobs.stat(repo, digest)).toBe(bytes.length);
    await blobs.delete(repo, digest);
    await expect(blobs.stat(repo, digest)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
  });

  test('an unknown blob is not remembered: linked a moment later, it is found at once', async () => {
    const clock = new ManualClock(0);
    const blobs = await service(clock);
    const otherRepo = parseRepoName('team/other');
    await expect(blobs.stat(otherRepo, digest)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    await other.linkBlob(otherRepo, digest, bytes.length, clock.now());
    expect(await blobs.stat(otherRepo, digest)).toBe(bytes.length);
  });
});

describe('BlobService.storedSize (HEAD)', () => {
  const repo = parseRepoName('team/app');
  const bytes = Buffer.from('layer bytes');
  const digest = digestBuffer(bytes);
  let backend: StorageBackend | undefined;
  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });

  async function service(clock: ManualClock, cacheMs?: number): Promise<{ blobs: BlobService; file: string; failures: ContentIntegrityError[] }> {
    const root = join(dir, 'store');
    backend = createFsBackend({ root, tempRoot: join(dir, 'tmp') });
    await backend.blobs.writeBytes(digest, bytes);
    await index.linkBlob(repo, digest, bytes.length, clock.now());
    const failures: ContentIntegrityError[] = [];
    const blobs = new BlobService(index, backend.blobs, clock, (f) => failures.push(f), cacheMs);
    return { blobs, file: blobPath(root, digest), failures };
  }

  test('a file found right is trusted for the index cache TTL, then checked again', async () => {
    const clock = new ManualClock(0);
    const { blobs, file, failures } = await service(clock);
    expect(await blobs.storedSize(repo, digest)).toBe(bytes.length);
    await unlink(file);
    clock.advance(999);
    expect(await blobs.storedSize(repo, digest)).toBe(bytes.length);
    clock.advance(1);
    await expect(blobs.storedSize(repo, digest)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    expect(failures.map((f) => f.digest)).toEqual([digest]);
  });

  test('a GET that finds the file gone ends the trust at once', async () => {
    const clock = new ManualClock(0);
    const { blobs, file, failures } = await service(clock);
    expect(await blobs.storedSize(repo, digest)).toBe(bytes.length);
    await writeFile(file, 'short');
    const sink = new PassThrough();
    sink.resume();
    await expect(blobs.send(digest, sink, bytes.length)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    await expect(blobs.storedSize(repo, digest)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    expect(failures).toHaveLength(2);
  });

  test('with no cache TTL (an index replicas share) every HEAD checks the file', async () => {
    const clock = new ManualClock(0);
    const { blobs, file } = await service(clock, 0);
    expect(await blobs.storedSize(repo, digest)).toBe(bytes.length);
    await unlink(file);
    await expect(blobs.storedSize(repo, digest)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
  });
});
