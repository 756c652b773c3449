import { link, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { SweepWorker } from '../../../src/storage/fs/sweep-worker.js';

let dir: string;
let sweeper: SweepWorker;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-sweep-'));
  sweeper = new SweepWorker();
});
afterEach(async () => {
  await sweeper.close();
  await rm(dir, { recursive: true, force: true });
});

describe('SweepWorker', () => {
  test('aside renames a file away and reports its size and time; a missing file is gone', async () => {
    const path = join(dir, 'abc');
    await writeFile(path, 'twelve bytes');
    await utimes(path, 1_700_000_000, 1_700_000_000);
    const found = await sweeper.run({ op: 'aside', path, aside: `${path}.gc-1` });
    expect(found).toEqual({ size: 12, mtimeMs: 1_700_000_000_000 });
    expect(await readdir(dir)).toEqual(['abc.gc-1']);
    expect(await sweeper.run({ op: 'aside', path, aside: `${path}.gc-2` })).toEqual({ gone: true });
  });

  test('back links the file home and removes the aside name, keeping a copy already home; drop unlinks', async () => {
    const home = join(dir, 'abc');
    await writeFile(`${home}.gc-1`, 'content');
    await sweeper.run({ op: 'back', aside: `${home}.gc-1`, home });
    expect(await readdir(dir)).toEqual(['abc']);
    expect(await readFile(home, 'utf8')).toBe('content');

    await link(home, `${home}.gc-2`);
    await sweeper.run({ op: 'back', aside: `${home}.gc-2`, home });
    expect(await readdir(dir)).toEqual(['abc']);
    expect((await stat(home)).nlink).toBe(1);

    await sweeper.run({ op: 'aside', path: home, aside: `${home}.gc-3` });
    await sweeper.run({ op: 'drop', aside: `${home}.gc-3` });
    expect(await readdir(dir)).toEqual([]);
  });

  test('a failed step rejects with the fs error code, and the other steps of its message still run', async () => {
    await writeFile(join(dir, 'a'), 'a');
    const steps = [
      sweeper.run({ op: 'drop', aside: join(dir, 'missing.gc-1') }),
      sweeper.run({ op: 'aside', path: join(dir, 'a'), aside: join(dir, 'a.gc-1') }),
      sweeper.run({ op: 'aside', path: join(dir, 'a'), aside: join(dir, 'nowhere', 'a.gc-1') }),
    ];
    const [missing, aside, nowhere] = await Promise.allSettled(steps);
    expect(missing).toMatchObject({ status: 'rejected', reason: { code: 'ENOENT' } });
    expect(aside).toEqual({ status: 'fulfilled', value: { size: 1, mtimeMs: expect.any(Number) } });
    // The file went aside in step 2, so step 3 found nothing to rename.
    expect(nowhere).toEqual({ status: 'fulfilled', value: { gone: true } });
    expect(sweeper.messages).toBe(1);
  });

  test('steps asked for in one turn go as one message; later turns send more', async () => {
    const names = Array.from({ length: 300 }, (_, i) => `f${i}`);
    await Promise.all(names.map((n) => writeFile(join(dir, n), n)));
    const found = await Promise.all(names.map((n) => sweeper.run({ op: 'aside', path: join(dir, n), aside: join(dir, `${n}.gc-1`) })));
    expect(found.map((f) => f.size)).toEqual(names.map((n) => n.length));
    expect(sweeper.messages).toBe(1);
    await Promise.all(names.map((n) => sweeper.run({ op: 'drop', aside: join(dir, `${n}.gc-1`) })));
    expect(sweeper.messages).toBe(2);
    expect(await readdir(dir)).toEqual([]);
  });

  test('close stops the worker, and the next step starts a new one', async () => {
    const path = join(dir, 'x');
    await writeFile(path, 'x');
    await sweeper.run({ op: 'aside', path, aside: `${path}.gc-1` });
    expect(sweeper.running).toBe(true);
    await sweeper.close();
    expect(sweeper.running).toBe(false);
    await sweeper.run({ op: 'back', aside: `${path}.gc-1`, home: path });
    expect(sweeper.running).toBe(true);
    expect(await readdir(dir)).toEqual(['x']);
  });
});
