/**
 * deploy/ha/compose.yaml (three Keel replicas, PostgreSQL, an S3 server, nginx, the GC) and
 * deploy/ha/nginx.conf against what Keel, its image and nginx really read: the file parses
 * (merge keys included) and its `${VAR:-default}` references expand as Compose expands them,
 * every `KEEL_*` name is one Keel reads, each replica's configuration loads with Keel's own
 * parser and names the compose file's PostgreSQL and bucket with the credentials those
 * services are given, each replica advertises its own service address, and nginx (the real
 * one, `nginx -t`) accepts the load balancer's file, whose upstreams are exactly the replicas.
 * No Docker is involved.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { run } from '../support/e2e/run.js';
import { ensureTools, toolPath } from '../support/e2e/tools.js';
import { imageFacts, isUnder, KEEL_NAMES, keelNamesIn, yamlDocuments } from './manifests.js';
import { nginxDirectives, type NginxDirective } from './nginx-conf.js';

const DIR = 'deploy/ha';
const FILE = `${DIR}/compose.yaml`;
const NGINX = `${DIR}/nginx.conf`;
const REPLICAS = ['keel-1', 'keel-2', 'keel-3'];

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  pull_policy?: string;
  restart?: string;
  read_only?: boolean;
  tmpfs?: string[];
  init?: boolean;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  entrypoint?: string[];
}
interface Compose { name?: string; services: Record<string, Service>; volumes?: Record<string, unknown> }

/**
 * What Compose does to every string value before using it: `$$` is a literal `$`, `${NAME}` and
 * `${NAME:-default}` (or `-default`) read the environment of `docker compose`. Anything else
 * with a `$` is a failure here, so the file never relies on a form this does not model.
 */
function interpolate(value: unknown, env: Record<string, string>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$/g, (whole, name?: string, op?: string, fallback?: string) => {
      if (whole === '$$') return '$';
      if (name === undefined) throw new Error(`${FILE}: a "$" Compose would read as a variable in ${JSON.stringify(value)} (write $$ for a literal one)`);
      const set = env[name];
      if (op === undefined) {
        if (set === undefined) throw new Error(`${FILE}: \${${name}} has no default and is not set`);
        return set;
      }
      return set === undefined || (op === ':-' && set === '') ? (fallback ?? '') : set;
    });
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  return value;
}

const image = imageFacts();
const raw = (): Compose => yamlDocuments(FILE)[0] as Compose;
/** The file as Compose runs it with these variables set in its environment (none: the defaults). */
const expanded = (env: Record<string, string> = {}): Compose => interpolate(raw(), env) as Compose;

function service(compose: Compose, name: string): Service {
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
/** The host file a service mounts at `target`, relative to the compose file. */
function mountedFile(s: Service, target: string): string {
  const mount = mounts(s)[target];
  if (!mount) throw new Error(`${FILE}: nothing mounted at ${target}`);
  return resolve(DIR, mount.source);
}
/** A replica's configuration, as Keel reads it in that replica's container. */
function replicaConfig(compose: Compose, name: string): { config: Config; warnings: string[] } {
  const s = service(compose, name);
  const env = s.environment ?? {};
  expect(env.KEEL_CONFIG).toBe(image.config);
  return readConfig({ file: mountedFile(s, image.config), env });
}
/** `-flag=value` from a command line. */
function flag(args: string[] | undefined, name: string): string | undefined {
  return args?.find((a) => a.startsWith(`-${name}=`))?.slice(name.length + 2);
}

let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'keel-ha-compose-'));
  // nginx -p: its prefix, where it opens its default error log before reading the file.
  await mkdir(join(scratch, 'logs'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('deploy/ha/compose.yaml', () => {
  test('three replicas of one image built from deploy/Dockerfile, a load balancer, PostgreSQL, an S3 server, its bucket, the GC', () => {
    const compose = expanded();
    expect(Object.keys(compose.services).sort()).toEqual(['bucket', 'gc', ...REPLICAS, 'lb', 'postgres', 's3'].sort());
    const builder = service(compose, 'keel-1');
    expect(builder.build).toEqual({ context: '../..', dockerfile: 'deploy/Dockerfile' });
    expect(resolve(DIR, builder.build?.context ?? '', builder.build?.dockerfile ?? '')).toBe(resolve('deploy/Dockerfile'));
    for (const name of ['keel-2', 'keel-3', 'gc']) {
      const s = service(compose, name);
      expect([name, s.image, s.build, s.pull_policy]).toEqual([name, builder.image, undefined, 'never']);
    }
    for (const name of [...REPLICAS, 'gc', 'lb', 'postgres', 's3']) expect([name, service(compose, name).restart]).toEqual([name, 'unless-stopped']);
    expect(service(compose, 'postgres').image).toMatch(/^postgres:/);
    expect(service(compose, 'lb').image).toMatch(/^nginx:/);
  });

  test('every KEEL_ name in the file is one Keel reads, and every $ is one Compose expands', () => {
    const names = keelNamesIn(expanded());
    expect(names).toEqual(expect.arrayContaining(['KEEL_CONFIG', 'KEEL_DATABASE', 'KEEL_CLUSTER_ADVERTISE_URL', 'KEEL_CLUSTER_REPLICA']));
    expect(names.filter((n) => !KEEL_NAMES.has(n))).toEqual([]);
  });

  test("each replica's configuration loads with Keel's parser, with no warning: PostgreSQL for the index, the bucket for both stores", () => {
    const compose = expanded();
    const postgres = service(compose, 'postgres').environment ?? {};
    const s3 = service(compose, 's3');
    for (const name of REPLICAS) {
      const { config, warnings } = replicaConfig(compose, name);
      expect([name, warnings]).toEqual([name, []]);
      const db = new URL(config.database);
      expect([db.protocol, db.hostname, db.port]).toEqual(['postgres:', 'postgres', '5432']);
      expect([decodeURIComponent(db.username), decodeURIComponent(db.password), db.pathname.slice(1)]).toEqual([postgres.POSTGRES_USER, postgres.POSTGRES_PASSWORD, postgres.POSTGRES_DB]);
      expect(config.storage.registry).toMatchObject({ kind: 's3' });
      expect(config.storage.proxy).toMatchObject({ kind: 's3' });
      const endpoint = new URL(config.s3.endpoint);
      expect([endpoint.hostname, endpoint.port]).toEqual(['s3', flag(s3.command, 's3.port')]);
      expect([config.s3.access_key_id, config.s3.secret_access_key]).toEqual([s3.environment?.AWS_ACCESS_KEY_ID, s3.environment?.AWS_SECRET_ACCESS_KEY]);
      // The endpoint is only on the compose network: clients could not follow a redirect to it.
      expect(config.s3.redirect).toBe(false);
      expect(config.listen.port).toBe(image.port);
    }
  });

  test('the bucket the replicas use is the one the bucket job creates, with the S3 server\'s keys, before any replica starts', () => {
    const compose = expanded();
    const job = service(compose, 'bucket');
    const script = job.entrypoint?.[2] ?? '';
    expect(job.entrypoint?.slice(0, 2)).toEqual(['sh', '-c']);
    expect(script).toContain('$(seq 60)');
    const bucket = /create-bucket --bucket (\S+)/.exec(script)?.[1];
    expect(script).toContain(`head-bucket --bucket ${bucket}`);
    const s3 = service(compose, 's3');
    expect([job.environment?.AWS_ACCESS_KEY_ID, job.environment?.AWS_SECRET_ACCESS_KEY]).toEqual([s3.environment?.AWS_ACCESS_KEY_ID, s3.environment?.AWS_SECRET_ACCESS_KEY]);
    expect(script).toContain(`--endpoint-url http://s3:${flag(s3.command, 's3.port')}`);
    for (const name of REPLICAS) {
      const { config } = replicaConfig(compose, name);
      for (const location of [config.storage.registry, config.storage.proxy]) expect([name, location.kind === 's3' ? location.bucket : '']).toEqual([name, bucket]);
      expect(service(compose, name).depends_on).toEqual({ postgres: { condition: 'service_healthy' }, bucket: { condition: 'service_completed_successfully' } });
    }
    const pgCheck = service(compose, 'postgres').healthcheck?.test ?? [];
    const pg = service(compose, 'postgres').environment ?? {};
    expect(pgCheck).toEqual(['CMD', 'pg_isready', '-U', pg.POSTGRES_USER, '-d', pg.POSTGRES_DB]);
  });

  test('secrets set in the environment of docker compose reach both ends: the database password and the S3 keys', () => {
    const env = { POSTGRES_PASSWORD: 'pg-secret-1', S3_ACCESS_KEY: 'ak-2', S3_SECRET_KEY: 'sk-3' };
    const compose = expanded(env);
    expect(service(compose, 'postgres').environment?.POSTGRES_PASSWORD).toBe(env.POSTGRES_PASSWORD);
    expect(service(compose, 's3').environment).toMatchObject({ AWS_ACCESS_KEY_ID: env.S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: env.S3_SECRET_KEY });
    for (const name of REPLICAS) {
      const { config } = replicaConfig(compose, name);
      expect([name, new URL(config.database).password, config.s3.access_key_id, config.s3.secret_access_key]).toEqual([name, env.POSTGRES_PASSWORD, env.S3_ACCESS_KEY, env.S3_SECRET_KEY]);
    }
    // The defaults are not the values set: the file reads the variables, not constants.
    expect(new URL(replicaConfig(expanded(), 'keel-1').config.database).password).not.toBe(env.POSTGRES_PASSWORD);
  });

  test('each replica has its own name and advertises its own service address at Keel\'s port; only local scratch is per replica', () => {
    const compose = expanded();
    const configs = REPLICAS.map((name) => replicaConfig(compose, name).config);
    expect(configs.map((c) => c.cluster.replica)).toEqual(REPLICAS);
    expect(configs.map((c) => c.cluster.advertise_url)).toEqual(REPLICAS.map((name) => `http://${name}:${image.port}`));
    const locals = REPLICAS.map((name) => mounts(service(compose, name))[image.volume]);
    expect(new Set(locals.map((m) => m?.source)).size).toBe(REPLICAS.length);
    expect(locals.every((m) => m !== undefined && !m.ro && m.source in (compose.volumes ?? {}))).toBe(true);
    for (const [i, config] of configs.entries()) {
      expect([REPLICAS[i], isUnder(config.temporary_registry_storage, image.volume)]).toEqual([REPLICAS[i], true]);
      // Everything else every replica must see is in the database or the bucket, never on its volume.
      expect(config.registry_storage.startsWith('s3://') && config.proxy_storage.startsWith('s3://')).toBe(true);
      expect(mounts(service(compose, REPLICAS[i] as string))[image.config]?.ro).toBe(true);
    }
    // Same settings otherwise: one file, one environment apart from the replica's own two variables.
    const shared = (name: string): Record<string, string> => {
      const { KEEL_CLUSTER_REPLICA: _r, KEEL_CLUSTER_ADVERTISE_URL: _a, ...rest } = service(compose, name).environment ?? {};
      return rest;
    };
    for (const name of REPLICAS) expect(shared(name)).toEqual(shared('keel-1'));
    expect(new Set(REPLICAS.map((name) => mountedFile(service(compose, name), image.config))).size).toBe(1);
  });

  test('replicas: a read-only root file system, a tmpfs /tmp, and the one-host compose file\'s /ready healthcheck', () => {
    const compose = expanded();
    const single = (yamlDocuments('deploy/compose.yaml')[0] as Compose).services.keel;
    for (const name of [...REPLICAS, 'gc']) {
      const s = service(compose, name);
      expect([name, s.read_only, s.tmpfs]).toEqual([name, true, ['/tmp']]);
    }
    // That command is run against a real Keel in test/deploy/compose.test.ts.
    for (const name of REPLICAS) expect([name, service(compose, name).healthcheck?.test]).toEqual([name, single?.healthcheck?.test]);
  });

  test("the gc service: the image's scripts/gc, once a day, on the replicas' configuration and database, after keel-1 is healthy", () => {
    const compose = expanded();
    const gc = service(compose, 'gc');
    const { config, warnings } = readConfig({ file: mountedFile(gc, image.config), env: gc.environment ?? {} });
    expect(warnings).toEqual([]);
    expect(config.database).toBe(replicaConfig(compose, 'keel-1').config.database);
    expect(config.storage).toEqual(replicaConfig(compose, 'keel-1').config.storage);
    expect(mountedFile(gc, image.config)).toBe(mountedFile(service(compose, 'keel-1'), image.config));
    expect(gc.depends_on).toEqual({ 'keel-1': { condition: 'service_healthy' } });
    expect([gc.init, gc.healthcheck]).toEqual([true, { disable: true }]);
    const gcPath = `${image.workdir}/scripts/gc`;
    expect(image.scripts).toContain(gcPath);
    expect(gc.entrypoint).toEqual(['sh', '-c', `while :; do ${gcPath} --config ${image.config}; sleep 86400; done`]);
  });

  test('the load balancer: the only published port, its nginx.conf mounted read-only, started with the replicas', () => {
    const compose = expanded();
    const lb = service(compose, 'lb');
    expect(mountedFile(lb, '/etc/nginx/nginx.conf')).toBe(resolve(NGINX));
    expect(mounts(lb)['/etc/nginx/nginx.conf']?.ro).toBe(true);
    const listen = nginxDirectives(NGINX).find((d) => d.name === 'http')?.block?.find((d) => d.name === 'server')?.block?.find((d) => d.name === 'listen')?.args[0];
    expect(lb.ports).toEqual([`${image.port}:${listen}`]);
    for (const name of Object.keys(compose.services).filter((n) => n !== 'lb')) expect([name, service(compose, name).ports]).toEqual([name, undefined]);
    expect(lb.depends_on).toEqual(Object.fromEntries(REPLICAS.map((name) => [name, { condition: 'service_started' }])));
  });
});

describe('deploy/ha/nginx.conf', () => {
  const http = (): NginxDirective[] => nginxDirectives(NGINX).find((d) => d.name === 'http')?.block ?? [];
  const server = (): NginxDirective[] => http().find((d) => d.name === 'server')?.block ?? [];
  const args = (block: NginxDirective[], name: string): string[][] => block.filter((d) => d.name === name).map((d) => d.args);

  test('round-robin over exactly the replicas, at the address each advertises; no stickiness, no other balancing method', () => {
    const compose = expanded();
    const upstreams = http().filter((d) => d.name === 'upstream');
    expect(upstreams.map((u) => u.args)).toEqual([['keel']]);
    const block = upstreams[0]?.block ?? [];
    const servers = args(block, 'server').map((a) => a[0]);
    const advertised = REPLICAS.map((name) => new URL(replicaConfig(compose, name).config.cluster.advertise_url).host);
    expect(servers).toEqual(advertised);
    const methods = ['ip_hash', 'hash', 'sticky', 'least_conn', 'least_time', 'random'];
    expect(block.map((d) => d.name).filter((n) => methods.includes(n))).toEqual([]);
  });

  test('a replica that is gone: connecting gives up after 2 s, the request goes to the next replica, the lost one is skipped for 10 s (README)', () => {
    const servers = args(http().find((d) => d.name === 'upstream')?.block ?? [], 'server');
    expect(servers.map((a) => a.slice(1))).toEqual(REPLICAS.map(() => ['max_fails=1', 'fail_timeout=10s']));
    expect(args(server(), 'proxy_connect_timeout')).toEqual([['2s']]);
    const root = server().find((d) => d.name === 'location' && d.args[0] === '/')?.block ?? [];
    expect(args(root, 'proxy_next_upstream')).toEqual([['error', 'timeout']]);
  });

  test('no buffering either way, no body size limit, everything else proxied to the upstream, the peer path closed', () => {
    const block = server();
    expect(args(block, 'client_max_body_size')).toEqual([['0']]);
    expect(args(block, 'proxy_buffering')).toEqual([['off']]);
    expect(args(block, 'proxy_request_buffering')).toEqual([['off']]);
    const locations = block.filter((d) => d.name === 'location');
    expect(locations.map((l) => l.args)).toEqual([['/_keel/'], ['/']]);
    expect(args(locations[0]?.block ?? [], 'return')).toEqual([['404']]);
    expect(args(locations[1]?.block ?? [], 'proxy_pass')).toEqual([['http://keel']]);
    // No buffering turned back on lower down.
    for (const l of locations) expect(args(l.block ?? [], 'proxy_buffering').concat(args(l.block ?? [], 'proxy_request_buffering'))).toEqual([]);
  });

  test('nginx itself accepts it (nginx -t), with the replica names resolving as on the compose network', async () => {
    await ensureTools(['nginx', 'unshare']);
    // A private mount namespace whose /etc/hosts names the replicas, so nginx resolves the
    // upstream servers as it would in the lb container; the machine's own file is untouched.
    const hosts = join(scratch, 'hosts');
    await writeFile(hosts, `127.0.0.1 localhost\n${REPLICAS.map((name) => `127.0.0.1 ${name}`).join('\n')}\n`);
    const conf = resolve(NGINX);
    // The file logs to /dev/stdout and /dev/stderr (the container's log). nginx opens those by
    // name, which fails on the sockets Node gives a child for stdio: they are files here.
    const nginxTest = async (namespace: boolean): Promise<{ code: number | null; stderr: string }> => {
      const out = join(scratch, namespace ? 'ns' : 'host');
      const nginx = `"$2" -t -q -c "$3" -p "$4" >"$5.out" 2>"$5.err"`;
      const script = namespace ? `mount --bind "$1" /etc/hosts && ${nginx}` : nginx;
      const argv = ['sh', '-c', script, 'sh', hosts, toolPath('nginx'), conf, scratch, out];
      const result = namespace ? await run(toolPath('unshare'), ['--mount', '--propagation', 'private', ...argv], { allowFailure: true }) : await run(argv[0] as string, argv.slice(1), { allowFailure: true });
      return { code: result.code, stderr: result.stderr + (await readFile(`${out}.err`, 'utf8')) };
    };
    expect(await nginxTest(true)).toEqual({ code: 0, stderr: '' });
    // The check can fail: without the names, nginx refuses the file.
    expect(await nginxTest(false)).toEqual({ code: 1, stderr: expect.stringMatching(/host not found in upstream "keel-1:5000"/) });
  });
});
