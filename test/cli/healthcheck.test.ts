/**
 * dist/healthcheck.js, the container image's HEALTHCHECK, as a child process: it reads the
 * configuration the way the server does (--config or KEEL_CONFIG, then KEEL_* over it) and
 * probes that `listen` address, over HTTPS when `tls` is set.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { build } from '../support/build.js';
import { freePort } from '../support/e2e/ports.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';

let dir: string;
const servers: KeelProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-healthcheck-'));
});
afterAll(async () => {
  for (const s of servers) await s.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the health check; its exit status. */
function healthcheck(args: string[], env: NodeJS.ProcessEnv = {}): Promise<number | null> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KEEL_')));
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [join(build.main, '../healthcheck.js'), ...args], { env: { ...clean, ...env }, cwd: dir });
    child.on('exit', (code) => resolve(code));
  });
}

async function configFile(name: string, toml: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, toml);
  return file;
}

describe('dist/healthcheck.js', () => {
  test('exits 0 for a server on the port the configuration file names, 1 for a port nothing listens on', async () => {
    const keel = await startKeel();
    servers.push(keel);
    const port = keel.running.address.port;
    expect(await healthcheck(['--config', await configFile('up.toml', `listen = "127.0.0.1:${port}"\n`)])).toBe(0);
    expect(await healthcheck(['--config', await configFile('down.toml', `listen = "127.0.0.1:${await freePort()}"\n`)])).toBe(1);
  });

  test('KEEL_CONFIG and KEEL_LISTEN are read as the server reads them; a wildcard address is probed on loopback', async () => {
    const keel = await startKeel();
    servers.push(keel);
    const port = keel.running.address.port;
    const elsewhere = await configFile('elsewhere.toml', `listen = "0.0.0.0:${await freePort()}"\n`);
    expect(await healthcheck([], { KEEL_CONFIG: elsewhere })).toBe(1);
    expect(await healthcheck([], { KEEL_CONFIG: elsewhere, KEEL_LISTEN: `0.0.0.0:${port}` })).toBe(0);
  });

  test('with tls set, it probes over HTTPS', async () => {
    await ensureTools(['openssl']);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=keel.example', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const tls = `[tls]\ncert = "${join(dir, 'cert.pem')}"\nkey = "${join(dir, 'key.pem')}"\n`;
    const keel = await startKeel({ toml: tls });
    servers.push(keel);
    const port = keel.running.address.port;
    expect(await healthcheck(['--config', await configFile('tls.toml', `listen = "127.0.0.1:${port}"\n${tls}`)])).toBe(0);
    // The same port without tls: plain HTTP to an HTTPS server is no answer.
    expect(await healthcheck(['--config', await configFile('plain.toml', `listen = "127.0.0.1:${port}"\n`)])).toBe(1);
  });
});
