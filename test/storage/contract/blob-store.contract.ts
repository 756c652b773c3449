/**
 * The BlobStore contract, run against every backend (filesystem here, S3 with its own
 * factory): what Keel's layers above storage rely on, and nothing about paths or files.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { digestBuffer } from '../../../src/primitives/digest.js';
import type { Digest } from '../../../src/primitives/types.js';
import type { StorageBackend } from '../../../src/storage/backend.js';
import { BlobDigestMismatchError, BlobNotFoundError, ContentIntegrityError, TooLargeError } from '../../../src/storage/storage-errors.js';
import { Collector, failingSource, readAll, type MakeBackend } from './backend-factory.js';

export interface BlobStoreContractOptions {
  /** Whether the backend hands out redirect URLs for blob GETs (the filesystem does not). */
  redirects: boolean;
}

export function blobStoreContract(name: string, makeBackend: MakeBackend, options: BlobStoreContractOptions): void {
  describe(`BlobStore contract: ${name}`, () => {
    let backend: StorageBackend;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ backend, cleanup } = await makeBackend());
    });
    afterEach(async () => {
      await backend.close();
      await cleanup();
    });

    const bytes = randomBytes(100_000);
    const digest = digestBuffer(bytes);
    const missing = digestBuffer(Buffer.from('never stored'));

    async function stored(data: Buffer = bytes): Promise<Digest> {
      const writer = await backend.blobs.writer();
      await writer.write(Readable.from([data]));
      const d = digestBuffer(data);
      await writer.commit(d);
      return d;
    }

    test('size and verify: the stored length, undefined and ContentIntegrityError when missing or of another length', async () => {
      await stored();
      expect(await backend.blobs.size(digest)).toBe(bytes.length);
      await expect(backend.blobs.verify(digest, bytes.length)).resolves.toBeUndefined();
      await expect(backend.blobs.verify(digest, bytes.length + 1)).rejects.toThrow(ContentIntegrityError);
      expect(await backend.blobs.size(missing)).toBeUndefined();
      await expect(backend.blobs.verify(missing, 1)).rejects.toThrow(ContentIntegrityError);
    });

    test('reader: the whole content, or an inclusive range; BlobNotFoundError when not stored', async () => {
      await stored();
      expect((await readAll(await backend.blobs.reader(digest))).equals(bytes)).toBe(true);
      expect((await readAll(await backend.blobs.reader(digest, { start: 10, end: 19 }))).equals(bytes.subarray(10, 20))).toBe(true);
      expect((await readAll(await backend.blobs.reader(digest, { start: bytes.length - 1, end: bytes.length - 1 }))).equals(bytes.subarray(-1))).toBe(true);
      await expect(backend.blobs.reader(missing)).rejects.toThrow(BlobNotFoundError);
    });

    test('send: whole or a range to a writable, not ended; ContentIntegrityError before any byte for a wrong size or missing content', async () => {
      await stored();
      const whole = new Collector();
      await backend.blobs.send(digest, whole, bytes.length);
      expect(whole.writableEnded).toBe(false);
      expect(whole.bytes.equals(bytes)).toBe(true);
      const part = new Collector();
      await backend.blobs.send(digest, part, bytes.length, { start: 1000, end: 50_999 });
      expect(part.bytes.equals(bytes.subarray(1000, 51_000))).toBe(true);
      const wrong = new Collector();
      await expect(backend.blobs.send(digest, wrong, bytes.length - 1)).rejects.toThrow(ContentIntegrityError);
      expect(wrong.bytes.length).toBe(0);
      await expect(backend.blobs.send(missing, new Collector(), 5)).rejects.toThrow(ContentIntegrityError);
    });

    test('readBytes: small content whole; TooLargeError past the cap; BlobNotFoundError when not stored', async () => {
      const small = Buffer.from('{"schemaVersion":2}');
      const d = await stored(small);
      expect((await backend.blobs.readBytes(d, small.length)).equals(small)).toBe(true);
      await expect(backend.blobs.readBytes(d, small.length - 1)).rejects.toThrow(TooLargeError);
      await expect(backend.blobs.readBytes(missing, 100)).rejects.toThrow(BlobNotFoundError);
    });

    test('writer: nothing is visible before commit, everything after; size counts what was written', async () => {
      const writer = await backend.blobs.writer();
      expect(writer.size).toBe(0);
      let landed = 0;
      expect(await writer.write(Readable.from([bytes.subarray(0, 40_000)]), { landed: (t) => (landed = t) })).toBe(40_000);
      expect(await writer.write(Readable.from([bytes.subarray(40_000)]))).toBe(bytes.length - 40_000);
      expect(landed).toBe(40_000);
      expect(writer.size).toBe(bytes.length);
      expect(await backend.blobs.size(digest)).toBeUndefined();
      await writer.commit(digest);
      expect(await backend.blobs.size(digest)).toBe(bytes.length);
      expect((await readAll(await backend.blobs.reader(digest))).equals(bytes)).toBe(true);
    });

    test('writer: readAt, when offered, reads back what was written before commit', async () => {
      const writer = await backend.blobs.writer();
      await writer.write(Readable.from([bytes]));
      if (writer.readAt) {
        const buffer = Buffer.alloc(100);
        expect(await writer.readAt(buffer, 500, 100)).toBe(100);
        expect(buffer.equals(bytes.subarray(500, 600))).toBe(true);
      }
      await writer.commit(digest);
      expect(await backend.blobs.size(digest)).toBe(bytes.length);
    });

    test('writer: a digest mismatch is a BlobDigestMismatchError and leaves nothing visible', async () => {
      const writer = await backend.blobs.writer();
      await writer.write(Readable.from([bytes]));
      const other = digestBuffer(Buffer.from('something else'));
      await expect(writer.commit(other)).rejects.toThrow(BlobDigestMismatchError);
      expect(await backend.blobs.size(other)).toBeUndefined();
      expect(await backend.blobs.size(digest)).toBeUndefined();
    });

    test('writer: commit checks sha512 digests too', async () => {
      const writer = await backend.blobs.writer();
      await writer.write(Readable.from([bytes]));
      const sha512 = `sha512:${createHash('sha512').update(bytes).digest('hex')}` as Digest;
      await writer.commit(sha512);
      expect(await backend.blobs.size(sha512)).toBe(bytes.length);
    });

    test('writer: cancel leaves nothing', async () => {
      const writer = await backend.blobs.writer();
      await writer.write(Readable.from([bytes]));
      await writer.cancel();
      expect(await backend.blobs.size(digest)).toBeUndefined();
      const leftovers: string[] = [];
      for await (const blob of backend.blobs.list()) leftovers.push(blob.digest);
      expect(leftovers).toEqual([]);
    });

    test('writer: more than the limit is a TooLargeError; a failed write leaves the writer where it was', async () => {
      const writer = await backend.blobs.writer();
      await writer.write(Readable.from([bytes.subarray(0, 1000)]));
      await expect(writer.write(Readable.from([bytes.subarray(1000)]), { limit: 10 })).rejects.toThrow(TooLargeError);
      expect(writer.size).toBe(1000);
      await expect(writer.write(failingSource([bytes.subarray(1000, 2000)]))).rejects.toThrow('the client went away');
      expect(writer.size).toBe(1000);
      await writer.write(Readable.from([bytes.subarray(1000)]));
      await writer.commit(digest);
      expect((await readAll(await backend.blobs.reader(digest))).equals(bytes)).toBe(true);
    });

    test('writeBytes: small content visible under its digest at once', async () => {
      const small = Buffer.from('{"mediaType":"x"}');
      const d = digestBuffer(small);
      await backend.blobs.writeBytes(d, small);
      expect((await backend.blobs.readBytes(d, 1000)).equals(small)).toBe(true);
    });

    test('remove: true when there was content, false after', async () => {
      await stored();
      expect(await backend.blobs.remove(digest)).toBe(true);
      expect(await backend.blobs.size(digest)).toBeUndefined();
      expect(await backend.blobs.remove(digest)).toBe(false);
    });

    test('list: every stored blob with its size', async () => {
      await stored();
      const small = Buffer.from('x');
      await backend.blobs.writeBytes(digestBuffer(small), small);
      const listed = new Map<string, number>();
      for await (const blob of backend.blobs.list()) listed.set(blob.digest, blob.size);
      expect(listed).toEqual(new Map([[digest, bytes.length], [digestBuffer(small), 1]]));
    });

    test(options.redirects ? 'redirectUrl: an absolute http(s) URL for stored content' : 'redirectUrl: none, the bytes are served through Keel', async () => {
      await stored();
      const url = backend.blobs.redirectUrl ? await backend.blobs.redirectUrl(digest) : undefined;
      if (options.redirects) expect(new URL(url ?? 'missing:').protocol).toMatch(/^https?:$/);
      else expect(url).toBeUndefined();
    });

    test('ready: a fresh backend is ready', async () => {
      await expect(backend.ready()).resolves.toBeUndefined();
    });
  });
}
