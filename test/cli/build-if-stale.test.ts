/**
 * scripts/build-if-stale (npm start's prestart and npm install's prepare): it builds when
 * there is no build or a source is newer than the build stamp, and otherwise starts at once.
 * Run for real, with the real tsc, on a small project of its own in a temp directory.
 * Timestamps are set explicitly (utimes) so that nothing depends on the clock's resolution.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';

let project: string;
const MARKER = '// not rebuilt\n';

function buildIfStale(): Promise<{ code: number; stderr: string }> {
  return new Promise((done) => {
    execFile('sh', [join(project, 'scripts/build-if-stale')], { cwd: tmpdir() }, (err, _stdout, stderr) => done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }));
  });
}

/** Puts the stamp and every source into the past, so that what a test touches next is newer. */
async function age(): Promise<void> {
  const long = new Date(Date.now() - 3_600_000);
  const longer = new Date(Date.now() - 7_200_000);
  for (const path of ['src/main.ts', 'src', 'tsconfig.json', 'tsconfig.build.json']) await utimes(join(project, path), longer, longer);
  await utimes(join(project, 'dist/.build-stamp'), long, long);
  await writeFile(join(project, 'dist/main.js'), MARKER);
}

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'keel-build-'));
  await mkdir(join(project, 'scripts'));
  await mkdir(join(project, 'src'));
  await copyFile(resolve('scripts/build-if-stale'), join(project, 'scripts/build-if-stale'));
  await symlink(resolve('node_modules'), join(project, 'node_modules'));
  await writeFile(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', strict: true, types: [], outDir: 'dist', rootDir: 'src' } }));
  await writeFile(join(project, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', include: ['src'] }));
  await writeFile(join(project, 'src/main.ts'), 'export const answer: number = 42;\n');
});
afterAll(async () => {
  await rm(project, { recursive: true, force: true });
});

describe('scripts/build-if-stale', () => {
  test('no build yet: builds and stamps', async () => {
    const first = await buildIfStale();
    expect(first).toMatchObject({ code: 0 });
    expect(first.stderr).toMatch(/no build yet; building dist\//);
    expect(await readFile(join(project, 'dist/main.js'), 'utf8')).toMatch(/answer = 42/);
    expect((await stat(join(project, 'dist/.build-stamp'))).isFile()).toBe(true);
  });

  test('nothing newer than the stamp: no build', async () => {
    await age();
    expect(await buildIfStale()).toEqual({ code: 0, stderr: '' });
    expect(await readFile(join(project, 'dist/main.js'), 'utf8')).toBe(MARKER);
  });

  test('a changed source: builds again', async () => {
    await age();
    await writeFile(join(project, 'src/main.ts'), 'export const answer: number = 43;\n');
    const run = await buildIfStale();
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/src\/main\.ts changed since the last build; building dist\//);
    expect(await readFile(join(project, 'dist/main.js'), 'utf8')).toMatch(/answer = 43/);
  });

  test('a file added with an old mtime (moved in, checked out) is seen through its directory', async () => {
    await age();
    const old = new Date(Date.now() - 86_400_000);
    await writeFile(join(project, 'src/added.ts'), 'export const added = true;\n');
    await utimes(join(project, 'src/added.ts'), old, old);
    const run = await buildIfStale();
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/changed since the last build; building dist\//);
    expect(await readFile(join(project, 'dist/added.js'), 'utf8')).toMatch(/added = true/);
  });

  test('a changed tsconfig: builds again', async () => {
    await age();
    await writeFile(join(project, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', include: ['src'], compilerOptions: { removeComments: true } }));
    const run = await buildIfStale();
    expect(run.stderr).toMatch(/tsconfig\.build\.json changed since the last build/);
    expect(await readFile(join(project, 'dist/main.js'), 'utf8')).not.toBe(MARKER);
  });

  test('a failed build leaves the old stamp: the next start tries again', async () => {
    await age();
    const before = (await stat(join(project, 'dist/.build-stamp'))).mtimeMs;
    await writeFile(join(project, 'src/main.ts'), 'export const answer: number = "not a number";\n');
    expect((await buildIfStale()).code).not.toBe(0);
    expect((await stat(join(project, 'dist/.build-stamp'))).mtimeMs).toBe(before);
    expect((await buildIfStale()).stderr).toMatch(/src\/main\.ts changed since the last build/);
  });
});
