/**
 * The UploadStore contract, run against every backend: sessions created, appended to at
 * their size (all or nothing), hashed, committed into the same backend's blob store, removed
 * and listed. Nothing about files or paths.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { digestBuffer } from '../../../src/primitives/digest.js';
import type { Digest } from '../../../src/primitives/types.js';
import type { StorageBackend } from '../../../src/storage/backend.js';
import { TooLargeError } from '../../../src/storage/storage-errors.js';
import { failingSource, patternSource, readAll, type MakeBackend } from './backend-factory.js';

export function uploadStoreContract(name: string, makeBackend: MakeBackend): void {
  describe(`UploadStore contract: ${name}`, () => {
    let backend: StorageBackend;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ backend, cleanup } = await makeBackend());
    });
    afterEach(async () => {
      await backend.close();
      await cleanup();
    });

    async function session(): Promise<string> {
      const id = randomUUID();
      await backend.uploads.create(id);
      return id;
    }

    test('create: an empty session; size is undefined for one that does not exist', async () => {
      const id = await session();
      expect(await backend.uploads.size(id)).toBe(0);
      expect(await backend.uploads.size(randomUUID())).toBeUndefined();
      expect(await backend.uploads.freeSpace()).toBeGreaterThan(0);
    });

    test('append at the offset: chunks add up, landed hears the length, digest is of everything', async () => {
      const id = await session();
      const data = randomBytes(300_000);
      const lengths: number[] = [];
      expect(await backend.uploads.append(id, 0, Readable.from([data.subarray(0, 100_000)]), Infinity, (l) => lengths.push(l))).toBe(100_000);
      expect(await backend.uploads.append(id, 100_000, Readable.from([data.subarray(100_000)]))).toBe(200_000);
      expect(lengths.at(-1)).toBe(100_000);
      expect(await backend.uploads.size(id)).toBe(data.length);
      expect(await backend.uploads.digest(id, 'sha256')).toBe(digestBuffer(data));
      expect(await backend.uploads.digest(id, 'sha512')).toBe(`sha512:${createHash('sha512').update(data).digest('hex')}`);
    });

    test('all or nothing: a chunk whose source fails, or that passes its limit, leaves the session at its last size', async () => {
      const id = await session();
      const data = randomBytes(50_000);
      await backend.uploads.append(id, 0, Readable.from([data.subarray(0, 20_000)]));
      await expect(backend.uploads.append(id, 20_000, failingSource([randomBytes(10_000), randomBytes(10_000)]))).rejects.toThrow('the client went away');
      expect(await backend.uploads.size(id)).toBe(20_000);
      await expect(backend.uploads.append(id, 20_000, Readable.from([randomBytes(5000)]), 100)).rejects.toThrow(TooLargeError);
      expect(await backend.uploads.size(id)).toBe(20_000);
      await backend.uploads.append(id, 20_000, Readable.from([data.subarray(20_000)]));
      expect(await backend.uploads.digest(id, 'sha256')).toBe(digestBuffer(data));
    });

    test('commit: the bytes become the blob of the digest in the same backend, and the session ends', async () => {
      const id = await session();
      const data = randomBytes(70_000);
      await backend.uploads.append(id, 0, Readable.from([data]));
      const digest = await backend.uploads.digest(id, 'sha256');
      await backend.uploads.commit(id, digest);
      expect((await readAll(await backend.blobs.reader(digest))).equals(data)).toBe(true);
      expect(await backend.uploads.size(id)).toBeUndefined();
    });

    test('remove: the session and its bytes go; removing again is no error', async () => {
      const id = await session();
      await backend.uploads.append(id, 0, Readable.from([randomBytes(1000)]));
      await backend.uploads.remove(id);
      expect(await backend.uploads.size(id)).toBeUndefined();
      await expect(backend.uploads.remove(id)).resolves.toBeUndefined();
    });

    test('list: every session with its size', async () => {
      const [a, b] = [await session(), await session()];
      await backend.uploads.append(b, 0, Readable.from([randomBytes(123)]));
      const listed = new Map<string, number>();
      for await (const s of backend.uploads.list()) listed.set(s.id, s.size);
      expect(listed).toEqual(new Map([[a, 0], [b, 123]]));
    });

    test('a 64 MiB streamed append hashes and commits like a small one', async () => {
      const id = await session();
      const total = 64 * 1024 * 1024;
      const expected = createHash('sha256');
      for await (const chunk of patternSource(total)) expected.update(chunk as Buffer);
      const digest = `sha256:${expected.digest('hex')}` as Digest;
      expect(await backend.uploads.append(id, 0, patternSource(total))).toBe(total);
      expect(await backend.uploads.digest(id, 'sha256')).toBe(digest);
      await backend.uploads.commit(id, digest);
      expect(await backend.blobs.size(digest)).toBe(total);
    });

    test('concurrent appends to two sessions keep their bytes apart', async () => {
      const [a, b] = [await session(), await session()];
      const [da, db] = [randomBytes(3 << 20), randomBytes(2 << 20)];
      const chunks = (data: Buffer): Buffer[] => Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
      await Promise.all([backend.uploads.append(a, 0, Readable.from(chunks(da))), backend.uploads.append(b, 0, Readable.from(chunks(db)))]);
      await Promise.all([backend.uploads.append(a, da.length, Readable.from([db])), backend.uploads.append(b, db.length, Readable.from([da]))]);
      expect(await backend.uploads.digest(a, 'sha256')).toBe(digestBuffer(Buffer.concat([da, db])));
      expect(await backend.uploads.digest(b, 'sha256')).toBe(digestBuffer(Buffer.concat([db, da])));
    });
  });
}
