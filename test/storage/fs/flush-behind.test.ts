import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { FlushBehind } from '../../../src/storage/fs/flush-behind.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-flush-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('FlushBehind', () => {
  test('flushes a file being written and leaves its bytes alone', async () => {
    const path = join(dir, 'upload');
    const flush = new FlushBehind(path, 4);
    await writeFile(path, 'abcd');
    flush.wrote(4);
    await writeFile(path, 'abcdefgh');
    flush.wrote(8);
    await flush.close();
    expect(await readFile(path, 'utf8')).toBe('abcdefgh');
  });

  test('a file that is gone (an upload cancelled meanwhile) is no error', async () => {
    const flush = new FlushBehind(join(dir, 'missing'), 1);
    flush.wrote(10);
    await expect(flush.close()).resolves.toBeUndefined();
  });

  test('closing before anything reached the threshold opens nothing', async () => {
    const flush = new FlushBehind(join(dir, 'missing'), 100);
    flush.wrote(99);
    await expect(flush.close()).resolves.toBeUndefined();
  });
});
