import { execFile, execFileSync } from 'node:child_process';
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
/** The same storage with a 1h grace period and info logs. */
let graceConfig: string;
let dir: string;
let client: Client;

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
  graceConfig = join(dir, 'grace.toml');
  await writeFile(
    graceConfig,
    `registry_storage = "${c.registry_storage}"\ntemporary_registry_storage = "${c.temporary_registry_storage}"\nproxy_storage = "${c.proxy_storage}"\ndatabase = "${c.database}"\n[log]\nlevel = "info"\n[gc]\ngrace = "1h"\n`,
  );
  client = new Client(keel.url);
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
    expect(real.stdout).toMatch(/^registry: freed 12 B — 1 blob, 0 manifests, 0 tags, 1 repository link, 1 empty repository, 0 upload sessions, 0 orphaned files$/m);
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

  test('--grace overrides gc.grace; a dry run right after a delete says what the grace period kept', async () => {
    const image = await client.pushImage('cli/grace', 'v1', { layerSize: 2048 });
    expect((await client.fetch(`/v2/cli/grace/manifests/${image.digest}`, { method: 'DELETE' })).status).toBe(202);
    const manifestSize = JSON.stringify(image.manifest).length;
    const bytes = image.blobs.reduce((n, b) => n + b.size, 0) + manifestSize;

    // Config, two layers and the manifest's own content: 4 blobs, all pushed just now.
    const kept = await gc(['--config', graceConfig, '--store', 'registry', '--dry-run']);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toMatch(/^registry: would free 0 B — 0 blobs,/m);
    expect(kept.stdout).toMatch(/^registry: 4 blobs \(\d+\.\d KiB\) younger than the 1h grace period kept; run with --grace 0s to free them now$/m);
    const json = JSON.parse((await gc(['--config', graceConfig, '--store', 'registry', '--dry-run', '--json'])).stdout) as {
      graceMs: number;
      stores: Array<{ blobs: number; bytes: number; keptByGrace: { blobs: number; bytes: number } }>;
    };
    expect(json.graceMs).toBe(3_600_000);
    expect(json.stores[0]).toMatchObject({ blobs: 0, bytes: 0, keptByGrace: { blobs: 4, bytes } });

    const now = await gc(['--config', graceConfig, '--store', 'registry', '--dry-run', '--grace', '0s', '--json']);
    const freed = JSON.parse(now.stdout) as { graceMs: number; stores: Array<{ blobs: number; bytes: number; keptByGrace: { blobs: number } }> };
    expect(freed.graceMs).toBe(0);
    expect(freed.stores[0]).toMatchObject({ blobs: 4, bytes, keptByGrace: { blobs: 0 } });
    const real = await gc(['--config', graceConfig, '--store', 'registry', '--grace', '0s']);
    expect(real.stdout).toMatch(/^registry: freed \d+\.\d KiB — 4 blobs, 0 manifests, 0 tags, 3 repository links, 1 empty repository,/m);
    expect(real.stdout).not.toMatch(/grace period kept/);

    const bad = await gc(['--config', graceConfig, '--grace', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--grace must be a duration such as 30m/);
  });

  test('--list and --verbose name every item (repository, tag, digest, size); --json carries them as an array', async () => {
    const gone = await client.pushImage('cli/listed', 'v1');
    expect((await client.fetch(`/v2/cli/listed/manifests/${gone.digest}`, { method: 'DELETE' })).status).toBe(202);
    const untagged = await client.pushImage('cli/untagged', 'v1');
    await client.pushImage('cli/untagged', 'kept');
    expect((await client.fetch('/v2/cli/untagged/manifests/v1', { method: 'DELETE' })).status).toBe(202);
    const manifestSize = JSON.stringify(untagged.manifest).length;

    const dry = await gc(['--config', configFile, '--store', 'registry', '--dry-run', '--delete-untagged', '--list']);
    expect(dry.code).toBe(0);
    const lines = dry.stdout.split('\n');
    expect(lines).toContain(`registry: would delete manifest cli/untagged@${untagged.digest} (${manifestSize} B)`);
    for (const b of gone.blobs) {
      expect(lines).toContain(`registry: would delete repository link cli/listed → ${b.digest} (${b.size < 1024 ? `${b.size} B` : `${(b.size / 1024).toFixed(1)} KiB`})`);
      expect(lines.some((l) => l.startsWith(`registry: would delete blob ${b.digest} (`))).toBe(true);
    }
    expect(lines).toContain('registry: would delete empty repository cli/listed');
    expect(lines.filter((l) => l.startsWith('registry: would delete blob ')).length).toBe(2 * gone.blobs.length + 2);
    expect(dry.stdout).not.toMatch(/ deleted /);

    const json = await gc(['--config', configFile, '--store', 'registry', '--dry-run', '--delete-untagged', '--verbose', '--json']);
    const report = JSON.parse(json.stdout) as { dryRun: boolean; stores: Array<{ store: string; blobs: number; manifests: number }>; items: Array<Record<string, unknown>> };
    expect(report.stores[0]).toMatchObject({ store: 'registry', manifests: 1, blobs: 2 * gone.blobs.length + 2 });
    expect(report.items).toContainEqual({ store: 'registry', kind: 'manifest', repository: 'cli/untagged', digest: untagged.digest, size: manifestSize });
    expect(report.items).toContainEqual({ store: 'registry', kind: 'repository', repository: 'cli/listed' });
    expect(report.items.filter((i) => i.kind === 'blob')).toHaveLength(report.stores[0]?.blobs ?? -1);
    // Without --verbose / --list the JSON summary is as before: no items.
    expect(JSON.parse((await gc(['--config', configFile, '--store', 'registry', '--dry-run', '--json'])).stdout)).not.toHaveProperty('items');

    const real = await gc(['--config', configFile, '--store', 'registry', '--delete-untagged', '--verbose']);
    expect(real.stdout.split('\n')).toContain(`registry: deleted manifest cli/untagged@${untagged.digest} (${manifestSize} B)`);
    expect(real.stdout).not.toMatch(/would delete/);
    expect((await client.fetch('/v2/cli/untagged/manifests/kept')).status).toBe(200);
  });

  test('dry-run log lines never say "deleted"; a real run does', async () => {
    const image = await client.pushImage('cli/logs', 'v1');
    expect((await client.fetch('/v2/cli/logs/manifests/v1', { method: 'DELETE' })).status).toBe(202);
    const messages = (stderr: string): string[] =>
      stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
    const infoConfig = join(dir, 'info.toml');
    await writeFile(infoConfig, (await readFile(configFile, 'utf8')).replace('level = "warn"', 'level = "info"'));
    const dry = messages((await gc(['--config', infoConfig, '--store', 'registry', '--dry-run', '--delete-untagged'])).stderr);
    expect(dry).toContain('gc: would delete untagged manifests');
    expect(dry).toContain('gc: finished');
    expect(dry.filter((m) => /deleted|removed/.test(m))).toEqual([]);
    const real = messages((await gc(['--config', infoConfig, '--store', 'registry', '--delete-untagged'])).stderr);
    expect(real).toContain('gc: untagged manifests deleted');
    expect((await client.fetch(`/v2/cli/logs/manifests/${image.digest}`)).status).toBe(404);
  });

  test('on a terminal the summary is not buried in JSON log lines; --verbose shows them', () => {
    let script: string;
    try {
      script = execFileSync('sh', ['-c', 'command -v script'], { encoding: 'utf8' }).trim();
    } catch {
      throw new Error('this test needs `script` from util-linux (apt-get install bsdutils) to give scripts/gc a terminal');
    }
    // `script` runs the command on a pseudo-terminal: stdout and stderr are both that terminal.
    const onTerminal = (args: string[]): string =>
      execFileSync(script, ['-qec', [GC, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], { encoding: 'utf8', env: { ...process.env, TERM: 'dumb' } });
    const quiet = onTerminal(['--config', graceConfig, '--dry-run']);
    expect(quiet).toMatch(/^registry: would free /m);
    expect(quiet).not.toMatch(/"msg":"gc: /);
    const verbose = onTerminal(['--config', graceConfig, '--dry-run', '--verbose']);
    expect(verbose).toMatch(/^registry: would free /m);
    expect(verbose).toMatch(/"msg":"gc: started"/);
  });

  test('piped, the log lines go to stderr at the configured level and stdout holds the summary only', async () => {
    const piped = await gc(['--config', graceConfig, '--dry-run']);
    expect(piped.stderr).toMatch(/"msg":"gc: started"/);
    expect(piped.stdout).not.toMatch(/"msg"/);
    expect(piped.stdout).toMatch(/^registry: would free /m);
  });
});
