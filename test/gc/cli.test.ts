import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import lockfile from 'proper-lockfile';
import { build } from '../support/build.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client } from '../support/oci-client.js';

const GC = build.gc;
let keel: KeelProcess;
let configFile: string;
let dir: string;

function gc(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(GC, args, (err, stdout, stderr) => done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

beforeAll(async () => {
  keel = await startKeel();
  dir = await mkdtemp(join(tmpdir(), 'keel-gc-cli-'));
  configFile = join(dir, 'keel.toml');
  const c = keel.config;
  await writeFile(
    configFile,
    `registry_storage = "${c.registry_storage}"\ntemporary_registry_storage = "${c.temporary_registry_storage}"\nproxy_storage = "${c.proxy_storage}"\ndatabase = "${c.database}"\n[log]\nlevel = "warn"\n[gc]\ngrace = "0s"\n`,
  );
  const client = new Client(keel.url);
  await client.pushBlob('cli/app', 'unreferenced');
});
afterAll(async () => {
  await keel.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('scripts/gc', () => {
  test('--dry-run --json reports per store and deletes nothing; a real run then frees it', async () => {
    const dry = await gc(['--config', configFile, '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const report = JSON.parse(dry.stdout) as { dryRun: boolean; durationMs: number; stores: Array<{ store: string; blobs: number; bytes: number }> };
    expect(report.dryRun).toBe(true);
    expect(report.stores.map((s) => s.store)).toEqual(['registry', 'proxy']);
    expect(report.stores[0]).toMatchObject({ blobs: 1, bytes: 'unreferenced'.length });
    expect(typeof report.durationMs).toBe('number');

    const real = await gc(['--config', configFile, '--store', 'registry']);
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(/^registry: freed 12 B — 1 blobs, 0 manifests, 0 tags, 1 repository links/m);
    expect(real.stdout).not.toMatch(/^proxy:/m);
  });

  test('a second run while one holds the lock exits at once with a message (status 75)', async () => {
    const release = await lockfile.lock(keel.config.database, { lockfilePath: `${keel.config.database}.gc.lock`, realpath: false });
    try {
      const blocked = await gc(['--config', configFile]);
      expect(blocked.code).toBe(75);
      expect(blocked.stderr).toMatch(/another garbage collection is running/);
    } finally {
      await release();
    }
    expect((await gc(['--config', configFile])).code).toBe(0);
  });

  test('a build rewriting dist/ during the run does not reach the executables the tests run', async () => {
    // What a concurrent tsc leaves for a moment: dist/gc/cli.js half written.
    const built = resolve('dist/gc/cli.js');
    const whole = await readFile(built);
    try {
      await writeFile(built, whole.subarray(0, Math.floor(whole.length / 2)));
      const release = await lockfile.lock(keel.config.database, { lockfilePath: `${keel.config.database}.gc.lock`, realpath: false });
      try {
        const blocked = await gc(['--config', configFile]);
        expect([blocked.code, blocked.stderr]).toEqual([75, expect.stringMatching(/another garbage collection is running/)]);
      } finally {
        await release();
      }
    } finally {
      await writeFile(built, whole);
    }
  });

  test('--help prints usage with every option and exits 0; --version prints the version', async () => {
    for (const flag of ['--help', '-h']) {
      const help = await gc([flag]);
      expect(help.code).toBe(0);
      for (const option of ['--config <file>', '--store registry|proxy|all', '--dry-run', '--delete-untagged', '--json', '--help', '--version']) expect(help.stdout).toContain(option);
      expect(help.stderr).toBe('');
    }
    const version = await gc(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toBe(`keel gc ${(JSON.parse(await readFile('package.json', 'utf8')) as { version: string }).version}\n`);
  });

  test('bad arguments and a bad configuration fail with a clear message', async () => {
    const store = await gc(['--config', configFile, '--store', 'everything']);
    expect(store.code).toBe(2);
    expect(store.stderr).toMatch(/--store must be registry, proxy or all/);
    const unknown = await gc(['--frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("keel gc: Unknown option '--frobnicate'\nTry 'scripts/gc --help'.\n");
    const noValue = await gc(['--config']);
    expect(noValue.code).toBe(2);
    expect(noValue.stderr).toMatch(/^keel gc: Option '-c, --config <value>' argument missing\n/);
    const missing = await gc(['--config', join(dir, 'nope.toml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read configuration file/);
  });
});
