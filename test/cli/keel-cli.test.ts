/**
 * scripts/keel as operators run it: the real executable as a child process, with a private
 * temp directory and configuration. Start-up failures an operator can fix end the process by
 * itself (a hang is a jest timeout, a failure) with one line naming the setting.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import bcrypt from 'bcryptjs';
import { KEEL, run, stopAll } from '../support/cli-process.js';

let dir: string;
let version: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-cli-'));
  version = (JSON.parse(await readFile('package.json', 'utf8')) as { version: string }).version;
});
afterAll(async () => {
  await stopAll();
  await rm(dir, { recursive: true, force: true });
});

let configs = 0;
/** A configuration file of its own, in a directory of its own: storage paths resolve there. */
async function config(toml: string): Promise<string> {
  const own = join(dir, `c${++configs}`);
  await mkdir(own);
  const file = join(own, 'keel.toml');
  await writeFile(file, `listen = "127.0.0.1:0"\n${toml}`);
  return file;
}

/** Runs keel, expects it to end by itself with a non-zero status and one line on stderr, and returns that line. */
async function refused(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; line: string }> {
  const keel = run(KEEL, args, { env });
  const code = await keel.exited;
  const stderr = keel.stderr();
  expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(stderr.trim().split('\n')).toHaveLength(1);
  return { code, line: stderr.trim() };
}

describe('scripts/keel --help and --version', () => {
  test('--help and -h print usage with every option and exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const keel = run(KEEL, [flag]);
      expect(await keel.exited).toBe(0);
      for (const option of ['--config <file>', '--help', '--version', 'KEEL_CONFIG', 'KEEL_PROXY_ALIASES']) expect(keel.stdout()).toContain(option);
      expect(keel.stderr()).toBe('');
    }
  });

  test('--version prints the package version and exits 0', async () => {
    const keel = run(KEEL, ['--version']);
    expect(await keel.exited).toBe(0);
    expect(keel.stdout()).toBe(`keel ${version}\n`);
  });

  test('a wrong command line is a message, a pointer to --help and status 2: --config without a value, an unknown option', async () => {
    const missing = run(KEEL, ['--config']);
    expect(await missing.exited).toBe(2);
    expect(missing.stderr()).toBe("keel: Option '-c, --config <value>' argument missing\nTry 'keel --help'.\n");
    const unknown = run(KEEL, ['--frobnicate']);
    expect(await unknown.exited).toBe(2);
    expect(unknown.stderr()).toMatch(/^keel: Unknown option '--frobnicate'\nTry 'keel --help'.\n$/);
  });
});

describe('the environment', () => {
  test('Kubernetes service links (KEEL_PORT, KEEL_SERVICE_HOST, ...) do not stop start-up: one warning names them', async () => {
    const keel = run(KEEL, ['--config', await config('')], {
      env: {
        KEEL_PORT: 'tcp://10.0.0.1:5000',
        KEEL_PORT_5000_TCP: 'tcp://10.0.0.1:5000',
        KEEL_PORT_5000_TCP_ADDR: '10.0.0.1',
        KEEL_PORT_5000_TCP_PORT: '5000',
        KEEL_PORT_5000_TCP_PROTO: 'tcp',
        KEEL_SERVICE_HOST: '10.0.0.1',
        KEEL_SERVICE_PORT: '5000',
        KEEL_LISTN: '127.0.0.1:0',
      },
    });
    await keel.logged('keel listening');
    const warnings = keel.logs().filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    const msg = warnings[0]?.msg ?? '';
    for (const name of ['KEEL_PORT', 'KEEL_PORT_5000_TCP_ADDR', 'KEEL_SERVICE_HOST', 'KEEL_SERVICE_PORT']) expect(msg).toContain(name);
    expect(msg).toContain('KEEL_LISTN (did you mean KEEL_LISTEN?)');
    expect(msg).toMatch(/Kubernetes service links/);
  });

  test('a bad value from the environment names the variable and its value, not the file', async () => {
    const file = await config('');
    const { code, line } = await refused(['--config', file], { KEEL_LISTEN: '5004' });
    expect(code).toBe(1);
    expect(line).toMatch(/^keel: configuration error: KEEL_LISTEN="5004" \(key "listen"\): expected "host:port"/);
    expect(line).not.toContain(file);
  });

  test('an unset ${VAR} in an upstream URL names the variable and the key', async () => {
    const { code, line } = await refused(['--config', await config('[proxy.upstreams.mirror]\nurl = "${KEEL_TEST_MIRROR_URL}"\n')]);
    expect(code).toBe(1);
    expect(line).toMatch(/key "proxy\.upstreams\.mirror\.url": \$\{KEEL_TEST_MIRROR_URL\} not set in the environment/);
  });
});

describe('which configuration is read', () => {
  test('the file read is logged at start-up', async () => {
    const file = await config('');
    const keel = run(KEEL, ['--config', file]);
    const read = await keel.logged('configuration read');
    expect(read.file).toBe(file);
  });

  test('run from a folder without configuration.toml: "no configuration file, embedded defaults", naming the file looked for and the storage used', async () => {
    const cwd = join(dir, 'elsewhere');
    await mkdir(cwd);
    const keel = run(KEEL, [], { cwd, env: { KEEL_LISTEN: '127.0.0.1:0' } });
    const line = await keel.logged('no configuration file, embedded defaults');
    expect(line).toMatchObject({ looked_for: join(cwd, 'configuration.toml'), storage: join(cwd, 'storage/registry') });
    await keel.logged('keel listening');
  });

  test('the start-up line names the Node version serving: scripts/keel runs the node first on PATH, the one running these tests', async () => {
    const keel = run(KEEL, ['--config', await config('')]);
    const listening = await keel.logged('keel listening');
    expect(listening.node).toBe(process.version);
  });

  test('on a V8 that has --scavenger-max-new-space-capacity-mb (Node 24) scripts/keel passes it as 2, on one without (Node 20) it leaves it out and Keel starts', async () => {
    // What the node of this run offers decides which way is checked; the run under each
    // Node version (npm test, scripts/test-node24) checks its own way.
    const offered = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }).includes('--scavenger-max-new-space-capacity-mb');
    const keel = run(KEEL, ['--config', await config('')]);
    await keel.logged('keel listening');
    const args = (await readFile(`/proc/${keel.pid}/cmdline`, 'utf8')).split('\0');
    expect(args.slice(0, 3)).toEqual(['node', '--max-semi-space-size=2', '--max-old-space-size=256']);
    // The heap-growing factor is raised at run time while downloads run (heap-headroom.ts), not fixed here.
    expect(args.some((arg) => arg.startsWith('--heap-growing-percent'))).toBe(false);
    expect(args.includes('--scavenger-max-new-space-capacity-mb=2')).toBe(offered);
  });
});

describe('drivers a Keel does not use are not loaded', () => {
  test('on the filesystem and SQLite, neither the S3 driver (the AWS SDK) nor PostgreSQL (pg) is imported: about 40 MiB of resident memory', async () => {
    const log = join(dir, `modules-${++configs}.log`);
    const register = join(process.cwd(), 'test/support/module-log/register.mjs');
    const keel = run(KEEL, ['--config', await config('')], { env: { NODE_OPTIONS: `--import ${register}`, MODULE_LOG_FILE: log } });
    await keel.logged('keel listening');
    const modules = (await readFile(log, 'utf8')).split('\n').filter((m) => m !== '');
    // The log is live: it saw the server's own modules and the SQLite index.
    expect(modules.some((m) => m.endsWith('/dist/storage/sqlite/sqlite-index.js'))).toBe(true);
    expect(modules.some((m) => m.includes('/node_modules/express/'))).toBe(true);
    expect(modules.filter((m) => m.includes('/node_modules/@aws-sdk/') || m.includes('/dist/storage/s3/s3-client.js'))).toEqual([]);
    expect(modules.filter((m) => m.includes('/node_modules/pg/') || m.includes('/dist/storage/pg/'))).toEqual([]);
  });
});

describe('start-up checks of storage and the database', () => {
  test('a path that cannot be created (/proc/keel) ends start-up with one line, no endless mkdir', async () => {
    const { code, line } = await refused(['--config', await config('registry_storage = "/proc/keel"\n')]);
    expect(code).toBe(1);
    expect(line).toMatch(/^keel: cannot start: registry_storage "\/proc\/keel": cannot create directory \/proc\/keel: .*\(ENOENT\); .*KEEL_REGISTRY_STORAGE/);
  });

  test('a path whose parent is a regular file names the setting and the file', async () => {
    const file = await config('proxy_storage = "plain-file/proxy"\n');
    await writeFile(join(file, '..', 'plain-file'), 'not a directory');
    const { code, line } = await refused(['--config', file]);
    expect(code).toBe(1);
    expect(line).toMatch(/^keel: cannot start: proxy_storage ".*\/plain-file\/proxy": .*\/plain-file is not a directory/);
  });

  test('a storage root on a read-only file system is refused at start, not at the first push', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test mounts a read-only tmpfs and must run as root (root also ignores permission bits, so no other cause is as real)');
    const mounted = join(dir, 'read-only');
    await mkdir(mounted);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mounted]);
    try {
      const { code, line } = await refused(['--config', await config(`registry_storage = "${mounted}"\n`)]);
      expect(code).toBe(1);
      expect(line).toBe(
        `keel: cannot start: registry_storage "${mounted}": cannot write in ${mounted}: read-only file system (EROFS); make it writable for the user Keel runs as, or set registry_storage (KEEL_REGISTRY_STORAGE) to another path`,
      );
    } finally {
      execFileSync('umount', [mounted]);
    }
  });

  test('a missing storage directory is created; a database path that is a directory is refused', async () => {
    const file = await config('registry_storage = "a/b/c"\ndatabase = "db-dir"\n');
    await mkdir(join(file, '..', 'db-dir'));
    const { code, line } = await refused(['--config', file]);
    expect(code).toBe(1);
    expect(line).toMatch(/^keel: cannot start: database ".*\/db-dir": is a directory, not a database file; set database \(KEEL_DATABASE\) to a file path/);
    // Checked in order: the storage roots before the database, and what was missing was made.
    await expect(readFile(join(file, '..', 'a/b/c'))).rejects.toMatchObject({ code: 'EISDIR' });
  });

  test('a database that is not SQLite, and a signing key directory that cannot be created', async () => {
    const file = await config('database = "index.db"\n');
    await writeFile(join(file, '..', 'index.db'), 'not a database, but a text file that is long enough to be read as one\n'.repeat(20));
    const notSqlite = await refused(['--config', file]);
    expect(notSqlite.code).toBe(1);
    expect(notSqlite.line).toMatch(/^keel: cannot start: database ".*\/index\.db": cannot open it as the SQLite index \(file is not a database\)/);

    const auth = await config('[auth]\nhtpasswd = "users.htpasswd"\nsigning_key = "/proc/keel/signing-key.pem"\n');
    await writeFile(join(auth, '..', 'users.htpasswd'), `alice:${bcrypt.hashSync('secret', 4)}\n`);
    const key = await refused(['--config', auth]);
    expect(key.code).toBe(1);
    expect(key.line).toMatch(/^keel: cannot start: auth\.signing_key "\/proc\/keel\/signing-key\.pem": cannot create directory \/proc\/keel: .*KEEL_AUTH_SIGNING_KEY/);
  });
});

describe('a signing key Keel cannot use is one line', () => {
  test('a key of another curve, and a file that is no key', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    for (const [content, why] of [
      [p384, 'is a ec key on secp384r1, not EC P-256'],
      ['not a key\n', 'is not a private key in PEM'],
    ] as const) {
      const file = await config('[auth]\nhtpasswd = "users.htpasswd"\nsigning_key = "key.pem"\n');
      await writeFile(join(file, '..', 'users.htpasswd'), `alice:${bcrypt.hashSync('secret', 4)}\n`);
      await writeFile(join(file, '..', 'key.pem'), content);
      const { code, line } = await refused(['--config', file]);
      expect(code).toBe(1);
      expect(line).toBe(`keel: cannot start: auth.signing_key "${join(file, '..', 'key.pem')}": ${why}; replace it with an EC P-256 private key in PEM, or remove it to have one created (KEEL_AUTH_SIGNING_KEY)`);
    }
  });
});

describe('other common start-up failures are one line', () => {
  let taken: Server;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
  });
  afterAll(async () => {
    await new Promise((done) => taken.close(done));
  });

  test('the port is in use', async () => {
    const port = (taken.address() as AddressInfo).port;
    const { code, line } = await refused(['--config', await config('')], { KEEL_LISTEN: `127.0.0.1:${port}` });
    expect(code).toBe(1);
    expect(line).toBe(`keel: cannot start: listen "127.0.0.1:${port}": cannot listen (EADDRINUSE): the address is already in use; stop the other process or choose another port (set listen or KEEL_LISTEN)`);
  });

  test('a bad htpasswd line', async () => {
    const file = await config('[auth]\nhtpasswd = "users.htpasswd"\n');
    await writeFile(join(file, '..', 'users.htpasswd'), 'alice:{SHA}notbcrypt\n');
    const { code, line } = await refused(['--config', file]);
    expect(code).toBe(1);
    expect(line).toMatch(/^keel: cannot start: .*users\.htpasswd line 1: only bcrypt entries are supported \(create them with htpasswd -B\)$/);
  });

  test('an unreadable TLS key, and a TLS file that is no PEM', async () => {
    const file = await config('[tls]\ncert = "cert.pem"\nkey = "key-dir"\n');
    await writeFile(join(file, '..', 'cert.pem'), 'not a certificate\n');
    await mkdir(join(file, '..', 'key-dir'));
    const unreadable = await refused(['--config', file]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.line).toMatch(/^keel: cannot start: tls\.key ".*\/key-dir": cannot read it \(EISDIR\)/);
    const garbage = await refused(['--config', file], { KEEL_TLS_KEY: join(file, '..', 'cert.pem') });
    expect(garbage.code).toBe(1);
    expect(garbage.line).toMatch(/^keel: cannot start: tls\.cert ".*cert\.pem", tls\.key ".*cert\.pem": not a PEM certificate chain and its private key/);
  });
});
