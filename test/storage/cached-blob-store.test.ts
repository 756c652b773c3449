import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { digestBuffer } from '../../src/primitives/digest.js';
import { CachedBlobStore } from '../../src/storage/cached-blob-store.js';
import { createFsBackend } from '../../src/storage/fs/fs-backend.js';
import { blobPath } from '../../src/storage/fs/paths.js';
import { BlobNotFoundError } from '../../src/storage/storage-errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-cache-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('CachedBlobStore', () => {
  test('serves manifests it wrote or read from memory, within its byte budget', async () => {
    const store = new CachedBlobStore(createFsBackend({ root: join(dir, 'store'), tempRoot: join(dir, 'tmp') }).blobs, 100);
    const small = Buffer.from('{"small":true}');
    const big = Buffer.alloc(200, 1);
    const [ds, db] = [digestBuffer(small), digestBuffer(big)];
    await store.writeBytes(ds, small);
    await store.writeBytes(db, big);
    // Remove the files underneath: what the cache holds is still served, what it could not hold is not.
    await unlink(blobPath(join(dir, 'store'), ds));
    await unlink(blobPath(join(dir, 'store'), db));
    expect((await store.readBytes(ds, 1000)).equals(small)).toBe(true);
    await expect(store.readBytes(db, 1000)).rejects.toThrow(BlobNotFoundError);
  });

  test('remove drops the cached copy too', async () => {
    const store = new CachedBlobStore(createFsBackend({ root: join(dir, 'store'), tempRoot: join(dir, 'tmp') }).blobs, 1000);
    const bytes = Buffer.from('gone');
    const digest = digestBuffer(bytes);
    await store.writeBytes(digest, bytes);
    expect(await store.remove(digest)).toBe(true);
    await expect(store.readBytes(digest, 1000)).rejects.toThrow(BlobNotFoundError);
  });
});
