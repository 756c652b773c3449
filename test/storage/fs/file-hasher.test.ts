import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { FileHasher } from '../../../src/storage/fs/file-hasher.js';

let dir: string;
let hasher: FileHasher;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-hasher-'));
  hasher = new FileHasher();
});
afterEach(async () => {
  await hasher.close();
  await rm(dir, { recursive: true, force: true });
});

const digest = (algorithm: 'sha256' | 'sha512', data: Buffer): string => `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;

describe('FileHasher', () => {
  test('follows a growing file and gives the digest of its bytes', async () => {
    const path = join(dir, 'upload');
    const parts = [randomBytes(3 * 1024 * 1024 + 7), randomBytes(1000), randomBytes(2 * 1024 * 1024)];
    await writeFile(path, Buffer.alloc(0));
    let length = 0;
    for (const part of parts) {
      await appendFile(path, part);
      length += part.length;
      hasher.advance('u1', path, length);
    }
    expect(await hasher.digest('u1', path, length, 'sha256')).toBe(digest('sha256', Buffer.concat(parts)));
  });

  test('after forget (a chunk cut back), the digest is of what the file holds now', async () => {
    const path = join(dir, 'upload');
    const good = randomBytes(5000);
    await writeFile(path, Buffer.concat([good, randomBytes(3000)]));
    hasher.advance('u2', path, 8000);
    // The worker takes messages in order: once this answers, it has hashed all 8000 bytes.
    await hasher.digest('sync', path, 0, 'sha256');
    await truncate(path, 5000);
    hasher.forget('u2');
    // The same length as before the cut, other bytes: only forgetting can tell them apart.
    const retried = randomBytes(3000);
    await appendFile(path, retried);
    hasher.advance('u2', path, 8000);
    expect(await hasher.digest('u2', path, 8000, 'sha256')).toBe(digest('sha256', Buffer.concat([good, retried])));
  });

  test('another algorithm, or no state at all (a restart), hashes the file from the start', async () => {
    const path = join(dir, 'upload');
    const data = randomBytes(100_000);
    await writeFile(path, data);
    hasher.advance('u3', path, data.length);
    expect(await hasher.digest('u3', path, data.length, 'sha512')).toBe(digest('sha512', data));
    const fresh = new FileHasher();
    try {
      expect(await fresh.digest('u3', path, data.length, 'sha256')).toBe(digest('sha256', data));
    } finally {
      await fresh.close();
    }
  });

  test('a file shorter than asked for is an error, and a missing one too', async () => {
    const path = join(dir, 'upload');
    await writeFile(path, randomBytes(10));
    await expect(hasher.digest('u4', path, 11, 'sha256')).rejects.toThrow(/shorter/);
    await expect(hasher.digest('u5', join(dir, 'missing'), 1, 'sha256')).rejects.toThrow(/ENOENT/);
  });

  test('an idle worker is stopped, and an upload that resumes is hashed from its start', async () => {
    const idle = new FileHasher(50);
    try {
      const path = join(dir, 'upload');
      const first = randomBytes(4000);
      await writeFile(path, first);
      idle.advance('u7', path, first.length);
      expect(idle.running).toBe(true);
      for (let i = 0; i < 100 && idle.running; i++) await new Promise((r) => setTimeout(r, 20));
      expect(idle.running).toBe(false);
      const more = randomBytes(3000);
      await appendFile(path, more);
      idle.advance('u7', path, 7000);
      expect(await idle.digest('u7', path, 7000, 'sha256')).toBe(digest('sha256', Buffer.concat([first, more])));
    } finally {
      await idle.close();
    }
  });

  test('closing stops the worker; the next call starts another', async () => {
    const path = join(dir, 'upload');
    const data = randomBytes(1000);
    await writeFile(path, data);
    await hasher.close();
    expect(await hasher.digest('u6', path, data.length, 'sha256')).toBe(digest('sha256', data));
  });
});
