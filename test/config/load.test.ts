import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { settingVariables } from '../../src/config/env.js';
import { ConfigError, loadConfig, parseConfig, parseConfigText, readConfig } from '../../src/config/load.js';
import { parseDuration, parseSize } from '../../src/config/units.js';

describe('configuration', () => {
  test('the shipped configuration.toml parses to the documented defaults', () => {
    const config = loadConfig({ file: 'configuration.toml', env: {} });
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 5000 });
    expect(config.registry_storage).toBe(resolve('storage/registry'));
    expect(config.temporary_registry_storage).toBe(resolve('storage/_tmp'));
    expect(config.proxy_storage).toBe(resolve('storage/proxy'));
    expect(config.database).toBe(resolve('storage/index.db'));
    expect(config.limits.max_manifest_size).toBe(4 * 1024 * 1024);
    expect(Object.isFrozen(config.limits)).toBe(true);
  });

  test('a missing optional file gives the embedded defaults', () => {
    const config = loadConfig({ file: '/nonexistent/keel.toml', optional: true, env: {} });
    expect(config.listen.port).toBe(5000);
    expect(config.registry_storage).toBe('/nonexistent/storage/registry');
  });

  test('readConfig says which file it read, or that there was none', async () => {
    expect(readConfig({ file: '/nonexistent/keel.toml', optional: true, env: {} })).toMatchObject({ file: undefined, looked: '/nonexistent/keel.toml' });
    expect(readConfig({ file: 'configuration.toml', env: {} })).toMatchObject({ file: resolve('configuration.toml'), warnings: [] });
  });

  test('a missing explicit file is an error naming it', () => {
    expect(() => loadConfig({ file: '/nonexistent/keel.toml', env: {} })).toThrow(/cannot read configuration file \/nonexistent\/keel.toml/);
  });

  test('relative paths resolve against the configuration file directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keel-config-'));
    try {
      await writeFile(join(dir, 'keel.toml'), 'registry_storage = "data/reg"\ndatabase = "/abs/index.db"\n');
      const config = loadConfig({ file: join(dir, 'keel.toml'), env: {} });
      expect(config.registry_storage).toBe(join(dir, 'data/reg'));
      expect(config.database).toBe('/abs/index.db');
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  test('a postgres:// database is a server, not a path: kept as written, from the file or KEEL_DATABASE', () => {
    const url = 'postgres://keel:pw@db.example:5432/keel?sslmode=require';
    expect(parseConfig(`database = "${url}"`, 'c.toml', '/etc/keel').database).toBe(url);
    expect(parseConfig('', 'c.toml', '/etc/keel', { KEEL_DATABASE: 'postgresql://db/keel' }).database).toBe('postgresql://db/keel');
    expect(parseConfig('database = "postgres-index.db"', 'c.toml', '/etc/keel').database).toBe('/etc/keel/postgres-index.db');
  });

  test('an unknown key stops start-up with a message naming the key', () => {
    expect(() => parseConfig('registry_storag = "x"', 'c.toml', '/')).toThrow(/unknown key "registry_storag"/);
    expect(() => parseConfig('[limits]\nmax_manifest = 3', 'c.toml', '/')).toThrow(/unknown key "limits.max_manifest"/);
  });

  test('a wrong type names the key', () => {
    expect(() => parseConfig('registry_storage = 5', 'c.toml', '/')).toThrow(/key "registry_storage"/);
    expect(() => parseConfig('[limits]\nmax_manifest_size = "lots"', 'c.toml', '/')).toThrow(/key "limits.max_manifest_size".*"lots"/);
    expect(() => parseConfig('listen = "nohostport"', 'c.toml', '/')).toThrow(/key "listen"/);
    expect(() => parseConfig('[log]\nlevel = "loud"', 'c.toml', '/')).toThrow(/key "log.level"/);
  });

  test('invalid TOML is an error naming the file', () => {
    expect(() => parseConfig('listen = ', 'c.toml', '/')).toThrow(ConfigError);
    expect(() => parseConfig('listen = ', 'c.toml', '/')).toThrow(/c.toml: not valid TOML/);
  });

  test('KEEL_* environment variables override the file, nested keys joined by _', () => {
    const config = parseConfig('listen = "0.0.0.0:5000"', 'c.toml', '/base', {
      KEEL_LISTEN: '127.0.0.1:5001',
      KEEL_REGISTRY_STORAGE: '/data/registry',
      KEEL_LIMITS_MAX_MANIFEST_SIZE: '1MiB',
      KEEL_LIMITS_MAX_LIST_PAGE: '50',
      KEEL_HTTP_IDLE_TIMEOUT: '90s',
      KEEL_CONFIG: '/ignored/here.toml',
    });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 5001 });
    expect(config.registry_storage).toBe('/data/registry');
    expect(config.limits.max_manifest_size).toBe(1024 * 1024);
    expect(config.limits.max_list_page).toBe(50);
    expect(config.http.idle_timeout).toBe(90_000);
  });

  test('an unknown KEEL_ variable is not fatal: one warning names them all, with the setting a typo is close to', () => {
    const env = { KEEL_REGISTRY_STORGE: '/x', KEEL_PORT: 'tcp://10.0.0.1:5000', KEEL_SERVICE_HOST: '10.0.0.1', KEEL_LIMITS_MAX_MANIFEST: '1MiB', KEEL_AUTH_ACCESS: 'x' };
    expect(() => parseConfig('', 'c.toml', '/', env)).not.toThrow();
    const { warnings } = parseConfigText('', 'c.toml', '/', env);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('KEEL_REGISTRY_STORGE (did you mean KEEL_REGISTRY_STORAGE?)');
    expect(warnings[0]).toContain('KEEL_LIMITS_MAX_MANIFEST (did you mean KEEL_LIMITS_MAX_MANIFEST_SIZE?)');
    expect(warnings[0]).toContain('KEEL_AUTH_ACCESS (settable only in the configuration file)');
    expect(warnings[0]).toMatch(/KEEL_PORT, KEEL_SERVICE_HOST look like Kubernetes service links/);
    // KEEL_PORT set by a person, not by Kubernetes, is taken for the setting it means.
    expect(parseConfigText('', 'c.toml', '/', { KEEL_PORT: '5000' }).warnings[0]).toContain('KEEL_PORT (did you mean KEEL_LISTEN?)');
    expect(parseConfigText('', 'c.toml', '/', { KEEL_LISTEN: '127.0.0.1:5000' }).warnings).toEqual([]);
  });

  test('a bad value from the environment names the variable and its value, not the file', () => {
    const message = (env: NodeJS.ProcessEnv): string => {
      try {
        parseConfig('listen = "0.0.0.0:5000"\n', '/etc/keel/ok.toml', '/', env);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(message({ KEEL_LISTEN: '5004' })).toBe('KEEL_LISTEN="5004" (key "listen"): expected "host:port" (e.g. "0.0.0.0:5000"), got "5004"');
    expect(message({ KEEL_LIMITS_MAX_LIST_PAGE: 'many' })).toBe('KEEL_LIMITS_MAX_LIST_PAGE="many": expected a number');
    expect(message({ KEEL_PROXY_ALLOW: 'quay.io,Not A Host' })).toMatch(/^KEEL_PROXY_ALLOW="quay.io,Not A Host" \(key "proxy.allow.1"\)/);
    expect(message({ KEEL_MIRROR_UPSTREAM: 'nowhere' })).toMatch(/^KEEL_MIRROR_UPSTREAM="nowhere" \(key "mirror.upstream"\)/);
    // The file is still blamed for what the file says.
    expect(() => parseConfig('listen = "5004"\n', '/etc/keel/ok.toml', '/', { KEEL_LOG_LEVEL: 'warn' })).toThrow(/^\/etc\/keel\/ok.toml: key "listen"/);
  });

  test('settings whose names hold dots are not environment variables; KEEL_PROXY_ALIASES sets proxy.aliases as name=target pairs', () => {
    expect(settingVariables().filter((name) => !/^KEEL_[A-Z0-9_]+$/.test(name))).toEqual([]);
    expect(settingVariables()).toContain('KEEL_PROXY_ALIASES');
    const { config, warnings } = parseConfigText('[proxy.upstreams.hub]\nurl = "https://hub.example"\n', 'c.toml', '/', { KEEL_PROXY_ALIASES: 'docker.io=hub, mirror.local = quay.io' });
    expect(warnings).toEqual([]);
    expect(config.proxy.aliases).toMatchObject({ 'docker.io': 'hub', 'mirror.local': 'quay.io', 'k8s.gcr.io': 'registry.k8s.io' });
    expect(() => parseConfig('', 'c.toml', '/', { KEEL_PROXY_ALIASES: 'docker.io' })).toThrow(/^KEEL_PROXY_ALIASES="docker.io": expected name=target pairs/);
    expect(() => parseConfig('', 'c.toml', '/', { KEEL_PROXY_ALIASES: 'docker.io=nowhere' })).toThrow(/^KEEL_PROXY_ALIASES="docker.io=nowhere" \(key "proxy.aliases.docker.io"\)/);
  });

  test('IPv6 listen addresses', () => {
    expect(parseConfig('listen = "[::1]:5000"', 'c.toml', '/').listen).toEqual({ host: '::1', port: 5000 });
  });
});

describe('units', () => {
  test('sizes', () => {
    expect(parseSize('4MiB')).toBe(4 * 1024 * 1024);
    expect(parseSize('512KiB')).toBe(512 * 1024);
    expect(parseSize('1GB')).toBe(1e9);
    expect(parseSize('1024')).toBe(1024);
    expect(parseSize(77)).toBe(77);
    expect(parseSize('-1')).toBeUndefined();
    expect(parseSize('4 parsecs')).toBeUndefined();
  });

  test('durations', () => {
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30')).toBe(30_000);
    expect(parseDuration(1.5)).toBe(1500);
    expect(parseDuration('5 minutes')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });
});

describe('proxy configuration', () => {
  test('upstreams take ${NAME} from the environment and default to the global TTL and timeout', () => {
    const config = parseConfig(
      '[proxy]\ntag_ttl = "2m"\n[proxy.upstreams."registry-1.docker.io"]\nusername = "${HUB_USER}"\npassword = "${HUB_PASS}"\n[proxy.upstreams."mirror.internal"]\nurl = "http://127.0.0.1:5070"\nallow_private = true\ntag_ttl = "1m"\n',
      'c.toml',
      '/',
      { HUB_USER: 'alice', HUB_PASS: 's3cret' },
    );
    expect(config.proxy.upstreams['registry-1.docker.io']).toMatchObject({ username: 'alice', password: 's3cret', allow_private: false });
    expect(config.proxy.upstreams['mirror.internal']).toMatchObject({ url: 'http://127.0.0.1:5070', allow_private: true, tag_ttl: 60_000 });
    expect(config.proxy.tag_ttl).toBe(120_000);
    expect(config.proxy.allow).toContain('quay.io');
  });

  test('an unknown upstream key, a bad URL or an upstream name that cannot be a path component name the key', () => {
    expect(() => parseConfig('[proxy.upstreams.x]\nurll = "http://a"\n', 'c.toml', '/')).toThrow(/unknown key "proxy.upstreams.x.urll"/);
    expect(() => parseConfig('[proxy.upstreams.x]\nurl = "ftp://a"\n', 'c.toml', '/')).toThrow(/key "proxy.upstreams.x.url"/);
    expect(() => parseConfig('[proxy.upstreams."Mirror:5000"]\nurl = "http://a"\n', 'c.toml', '/')).toThrow(/proxy.upstreams/);
  });

  test('an unset ${NAME} is an error naming the variable and the key; in a username or password a warning, and the upstream goes without credentials', () => {
    expect(() => parseConfig('[proxy.upstreams.mirror]\nurl = "${MIRROR_URL}"\n', 'c.toml', '/', {})).toThrow(/^c.toml: key "proxy.upstreams.mirror.url": \$\{MIRROR_URL\} not set in the environment/);
    expect(() => parseConfig('[proxy.upstreams.mirror]\nurl = "http://a"\nheaders = { "X-Token" = "${TOKEN}" }\n', 'c.toml', '/', {})).toThrow(/key "proxy.upstreams.mirror.headers.X-Token": \$\{TOKEN\}/);
    const { config, warnings } = parseConfigText('[proxy.upstreams."registry-1.docker.io"]\nusername = "${HUB_USER}"\npassword = "${HUB_PASS}"\n', 'c.toml', '/', { HUB_USER: 'alice' });
    expect(config.proxy.upstreams['registry-1.docker.io']).not.toHaveProperty('username');
    expect(config.proxy.upstreams['registry-1.docker.io']).not.toHaveProperty('password');
    expect(warnings).toEqual(['c.toml: key "proxy.upstreams.registry-1.docker.io.password": ${HUB_PASS} not set in the environment; upstream "registry-1.docker.io" is used without credentials']);
    // Set but empty is what the operator asked for.
    expect(parseConfig('[proxy.upstreams.mirror]\nurl = "http://a"\nheaders = { "X-Token" = "t${EMPTY}" }\n', 'c.toml', '/', { EMPTY: '' }).proxy.upstreams.mirror?.headers).toEqual({ 'X-Token': 't' });
  });

  test('KEEL_PROXY_ALLOW replaces the allow list', () => {
    expect(parseConfig('', 'c.toml', '/', { KEEL_PROXY_ALLOW: 'quay.io, ghcr.io' }).proxy.allow).toEqual(['quay.io', 'ghcr.io']);
  });
});

describe('auth and tls configuration', () => {
  test('paths resolve against the configuration directory; errors name the key', () => {
    const config = parseConfig('[auth]\nhtpasswd = "users.htpasswd"\n', 'c.toml', '/etc/keel');
    expect(config.auth.htpasswd).toBe('/etc/keel/users.htpasswd');
    expect(config.auth.signing_key).toBe('/etc/keel/storage/auth/signing-key.pem');
    expect(() => parseConfig('[tls]\ncert = "c.pem"\n', 'c.toml', '/')).toThrow(/key "tls.key": tls.cert and tls.key go together/);
    expect(() => parseConfig('[[auth.access]]\nrepository = "a/**"\nusers = ["group:nope"]\nactions = ["pull"]\n', 'c.toml', '/')).toThrow(/key "auth.access.0.users.0": no group "nope"/);
    expect(() => parseConfig('[[auth.access]]\nrepository = "a/**"\nusers = ["bob"]\nactions = ["read"]\n', 'c.toml', '/')).toThrow(/key "auth.access.0.actions.0"/);
  });
});
