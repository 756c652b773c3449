// Import limits against a real listening Keel: a gzip bomb (a tar whose entries are MiBs of
// zeros, a few KiB once compressed) is refused with SIZE_INVALID by limits.max_blob_size per
// entry and by the free space of the temporary storage in total, before its bytes land there,
// and leaves no temporary file behind.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, test } from '@jest/globals';
import tar from 'tar-stream';
import { DEFAULT_IMPORT_LIMITS } from '../../src/archive/import-archive.js';
import { postImport } from '../support/archives.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { errorCode } from '../support/oci-client.js';

const MiB = 1 << 20;
let keel: KeelProcess | undefined;
afterEach(async () => {
  await keel?.destroy();
  keel = undefined;
});

/** A gzipped tar of `count` entries of `size` zero bytes each, streamed through gzip (never whole). */
async function zeroBomb(count: number, size: number): Promise<Buffer> {
  const pack = tar.pack();
  const zeros = Buffer.alloc(MiB);
  const writing = (async () => {
    for (let i = 0; i < count; i++) {
      const entry = pack.entry({ name: `blobs/sha256/zero-${i}`, size, mtime: new Date(0) });
      for (let left = size; left > 0; left -= MiB) {
        if (!entry.write(zeros.subarray(0, Math.min(MiB, left)))) await new Promise<void>((r) => entry.once('drain', () => r()));
      }
      await new Promise<void>((resolve, reject) => entry.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
    pack.finalize();
  })();
  const chunks: Buffer[] = [];
  for await (const chunk of Readable.from(pack)) chunks.push(chunk as Buffer);
  await writing;
  return gzipSync(Buffer.concat(chunks), { level: 9 });
}

/** Every file under the temporary storage, with its size. */
async function temporaryFiles(root: string): Promise<Array<{ path: string; size: number }>> {
  const files: Array<{ path: string; size: number }> = [];
  for (const dir of ['uploads', 'ingest']) {
    for (const name of await readdir(join(root, dir)).catch(() => [] as string[])) {
      files.push({ path: join(dir, name), size: (await stat(join(root, dir, name))).size });
    }
  }
  return files;
}

describe('import limits', () => {
  test('an entry larger than limits.max_blob_size is refused before it is written (64 MiB of zeros, bound 1 MiB)', async () => {
    keel = await startKeel({ toml: '[limits]\nmax_blob_size = "1MiB"\n' });
    const bomb = await zeroBomb(1, 64 * MiB);
    expect(bomb.length).toBeLessThan(512 * 1024);
    const res = await postImport(keel.url, [['repository', 'bomb/one'], ['tag', 'v1']], bomb);
    expect(res.status).toBe(413);
    expect(await errorCode(res)).toBe('SIZE_INVALID');
    expect(await temporaryFiles(keel.config.temporary_registry_storage)).toEqual([]);
  });

  test('an archive that unpacks beyond the free space of the temporary storage is refused before it fills it', async () => {
    // A disk with 100 MiB free besides what the temporary storage holds; each time the server
    // measures, the bytes then in the temporary storage are recorded.
    const disk = 100 * MiB;
    const seen: number[] = [];
    let root = '';
    const freeSpace = async (): Promise<number> => {
      const used = (await temporaryFiles(root)).reduce((n, f) => n + f.size, 0);
      seen.push(used);
      return disk - used;
    };
    keel = await startKeel({ freeSpace });
    root = keel.config.temporary_registry_storage;
    const budget = disk - DEFAULT_IMPORT_LIMITS.reserve;

    // One entry larger than all of it: nothing of it is written.
    const one = await postImport(keel.url, [['repository', 'bomb/big'], ['tag', 'v1']], await zeroBomb(1, 64 * MiB));
    expect(one.status).toBe(413);
    expect(await errorCode(one)).toBe('SIZE_INVALID');
    expect(await temporaryFiles(root)).toEqual([]);
    expect(Math.max(...seen)).toBe(0);

    // Many entries that each fit but not together: refused at the one that would go past the budget.
    seen.length = 0;
    const many = await postImport(keel.url, [['repository', 'bomb/many'], ['tag', 'v1']], await zeroBomb(8, 8 * MiB));
    expect(many.status).toBe(413);
    expect(await errorCode(many)).toBe('SIZE_INVALID');
    expect(await temporaryFiles(root)).toEqual([]);
    expect(seen.length).toBeGreaterThan(1);
    expect(Math.max(...seen)).toBeLessThanOrEqual(budget);
    expect(Math.max(...seen)).toBeGreaterThanOrEqual(8 * MiB);
  });
});
