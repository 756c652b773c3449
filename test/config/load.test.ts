import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js';
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

  test('an unknown or mistyped KEEL_ variable is an error naming it', () => {
    expect(() => parseConfig('', 'c.toml', '/', { KEEL_REGISTRY_STORGE: '/x' })).toThrow(/KEEL_REGISTRY_STORGE: unknown setting/);
    expect(() => parseConfig('', 'c.toml', '/', { KEEL_LIMITS_MAX_LIST_PAGE: 'many' })).toThrow(/KEEL_LIMITS_MAX_LIST_PAGE: expected a number/);
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
