/**
 * deploy/compose.yaml against what Keel and its image really read: the file parses (merge keys
 * included), the port, volume, configuration file and `KEEL_*` names match deploy/Dockerfile and
 * Keel's parser, the GC service runs scripts/gc on the same volume and file, and the
 * healthcheck's own command tells a running Keel from a stopped one. No Docker is involved.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readConfig } from '../../src/config/load.js';
import { KEEL, run, stopAll } from '../support/cli-process.js';
import { imageFacts, isUnder, KEEL_NAMES, keelNamesIn, storagePaths, yamlDocuments } from './manifests.js';

const FILE = 'deploy/compose.yaml';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  pull_policy?: string;
  restart?: string;
  read_only?: boolean;
  tmpfs?: string[];
  init?: boolean;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  entrypoint?: string[];
}
interface Compose { services: Record<string, Service>; volumes?: Record<string, unknown> }

const image = imageFacts();
let compose: Compose;
let scratch: string;

function service(name: string): Service {
  const found = compose.services[name];
  if (!found) throw new Error(`${FILE}: no service ${name}`);
  return found;
}
/** The `source:target[:ro]` volumes of a service, by target. */
function mounts(s: Service): Record<string, { source: string; ro: boolean }> {
  return Object.fromEntries((s.volumes ?? []).map((v) => {
    const [source = '', target = '', mode] = v.split(':');
    return [target, { source, ro: mode === 'ro' }];
  }));
}
/** The configuration file the keel service mounts, on the host, relative to the compose file. */
function mountedConfig(s: Service): string {
  const mount = mounts(s)[image.config];
  if (!mount) throw new Error(`${FILE}: nothing mounted at ${image.config}`);
  return resolve('deploy', mount.source);
}

beforeAll(async () => {
  compose = yamlDocuments(FILE)[0] as Compose;
  scratch = await mkdtemp(join(tmpdir(), 'keel-compose-'));
});
afterAll(async () => {
  await stopAll();
  await rm(scratch, { recursive: true, force: true });
});

describe('deploy/compose.yaml', () => {
  test('two services of one image, built from deploy/Dockerfile, restarted unless stopped', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['gc', 'keel']);
    const keel = service('keel');
    const gc = service('gc');
    expect(keel.build).toEqual({ context: '..', dockerfile: 'deploy/Dockerfile' });
    expect(existsSync(resolve('deploy', keel.build?.context ?? '', keel.build?.dockerfile ?? ''))).toBe(true);
    expect(gc.image).toBe(keel.image);
    expect(gc.pull_policy).toBe('never');
    expect([keel.restart, gc.restart]).toEqual(['unless-stopped', 'unless-stopped']);
  });

  test("the mounted configuration parses with Keel's parser, listens on the published port, and keeps everything on the volume", () => {
    const keel = service('keel');
    const { config, warnings } = readConfig({ file: mountedConfig(keel), env: keel.environment ?? {} });
    expect(warnings).toEqual([]);
    expect(config.listen.port).toBe(image.port);
    expect(keel.ports).toEqual([`${image.port}:${config.listen.port}`]);
    expect(keel.environment?.KEEL_CONFIG).toBe(image.config);
    const data = mounts(keel)[image.volume];
    expect(data).toEqual({ source: 'keel-data', ro: false });
    expect(Object.keys(compose.volumes ?? {})).toEqual(['keel-data']);
    for (const [key, path] of Object.entries(storagePaths(config))) expect([key, isUnder(path, image.volume)]).toEqual([key, true]);
    expect(mounts(keel)[image.config]?.ro).toBe(true);
  });

  test('every KEEL_ name in the file is one Keel reads', () => {
    const names = keelNamesIn(compose);
    expect(names).toContain('KEEL_CONFIG');
    expect(names.filter((n) => !KEEL_NAMES.has(n))).toEqual([]);
  });

  test('both services: a read-only root file system with a tmpfs /tmp', () => {
    for (const name of ['keel', 'gc']) {
      const s = service(name);
      expect([name, s.read_only, s.tmpfs]).toEqual([name, true, ['/tmp']]);
    }
  });

  test("the gc service: the image's scripts/gc, once a day, on the keel service's volume and configuration, after keel is healthy", () => {
    const keel = service('keel');
    const gc = service('gc');
    expect(gc.volumes).toEqual(keel.volumes);
    expect(gc.environment).toEqual(keel.environment);
    expect(gc.depends_on).toEqual({ keel: { condition: 'service_healthy' } });
    expect(gc.init).toBe(true);
    // The image's HEALTHCHECK is the server's: in the gc container it would only ever fail.
    expect(gc.healthcheck).toEqual({ disable: true });
    const [shell, flag, script] = gc.entrypoint ?? [];
    expect([shell, flag]).toEqual(['sh', '-c']);
    const gcPath = `${image.workdir}/scripts/gc`;
    expect(image.scripts).toContain(gcPath);
    expect(script).toBe(`while :; do ${gcPath} --config ${image.config}; sleep 86400; done`);
  });

  test("the healthcheck's own command: exit 0 against a running Keel, 1 once it has stopped", async () => {
    const check = service('keel').healthcheck?.test ?? [];
    expect(check.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    const script = check[3] ?? '';
    const url = new URL(/fetch\('([^']+)'\)/.exec(script)?.[1] ?? 'missing:');
    expect([url.hostname, Number(url.port), url.pathname]).toEqual(['127.0.0.1', image.port, '/ready']);
    // The mounted configuration, with the volume in a temp directory and any free port.
    const text = (await readFile(mountedConfig(service('keel')), 'utf8')).replaceAll(image.volume, join(scratch, 'data')).replace(/^listen = .*$/m, 'listen = "127.0.0.1:0"');
    const file = join(scratch, 'configuration.toml');
    await writeFile(file, text);
    const keel = run(KEEL, [], { env: { ...service('keel').environment, KEEL_CONFIG: file } });
    const port = String((await keel.logged('keel listening')).port);
    const healthcheck = (): Promise<number> =>
      new Promise((done) => {
        execFile(process.execPath, ['-e', script.replace(`:${image.port}/`, `:${port}/`)], (err) => done(err ? Number((err as { code?: number }).code) : 0));
      });
    expect(await healthcheck()).toBe(0);
    await stopAll();
    expect(await healthcheck()).toBe(1);
  });
});
