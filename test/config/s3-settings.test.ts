// registry_storage / proxy_storage as s3:// URLs and the [s3] table: parsed once into typed
// locations; bad values stop start-up with one line naming the key.
import { describe, expect, test } from '@jest/globals';
import { changedSettings } from '../../src/config/changed-settings.js';
import { parseConfig, parseConfigText } from '../../src/config/load.js';
import { parseStorageLocation } from '../../src/config/storage-location.js';

const parse = (toml: string, env: NodeJS.ProcessEnv = {}) => parseConfig(toml, 'c.toml', '/base', env);

describe('storage locations', () => {
  test('plain paths keep meaning directories, resolved against the configuration directory', () => {
    const config = parse('registry_storage = "data/reg"\nproxy_storage = "/abs/proxy"');
    expect(config.registry_storage).toBe('/base/data/reg');
    expect(config.storage.registry).toEqual({ kind: 'filesystem', path: '/base/data/reg' });
    expect(config.storage.proxy).toEqual({ kind: 'filesystem', path: '/abs/proxy' });
  });

  test('s3://bucket/prefix, with or without a prefix, in the same or different buckets', () => {
    const same = parse('registry_storage = "s3://keel-data/registry/"\nproxy_storage = "s3://keel-data/proxy"');
    expect(same.storage.registry).toEqual({ kind: 's3', bucket: 'keel-data', prefix: 'registry' });
    expect(same.storage.proxy).toEqual({ kind: 's3', bucket: 'keel-data', prefix: 'proxy' });
    // The string field keeps the URL as written (not resolved as a path).
    expect(same.registry_storage).toBe('s3://keel-data/registry/');
    const different = parse('registry_storage = "s3://reg.example"\nproxy_storage = "s3://cache-1/a/b"');
    expect(different.storage.registry).toEqual({ kind: 's3', bucket: 'reg.example', prefix: '' });
    expect(different.storage.proxy).toEqual({ kind: 's3', bucket: 'cache-1', prefix: 'a/b' });
    const mixed = parse('registry_storage = "s3://reg"');
    expect(mixed.storage.proxy).toEqual({ kind: 'filesystem', path: '/base/storage/proxy' });
    expect(Object.isFrozen(mixed.storage.registry)).toBe(true);
  });

  test.each([
    ['s3://', /key "registry_storage": no bucket name/],
    ['s3:///x', /key "registry_storage": no bucket name/],
    ['s3://Bad_Bucket', /key "registry_storage": "Bad_Bucket" is not a valid S3 bucket name/],
    ['s3://ab', /key "registry_storage": "ab" is not a valid S3 bucket name/],
    ['s3://10.0.0.1/x', /is not a valid S3 bucket name/],
    ['s3://b..c', /is not a valid S3 bucket name/],
    ['s3://bucket//x', /key "registry_storage": the prefix "\/x" has an empty/],
    ['s3://bucket/a/../b', /has an empty, "\." or "\.\." segment/],
    ['s3://bucket/a?b', /may not hold "\?"/],
    ['gs://bucket/x', /key "registry_storage": unsupported scheme "gs:\/\/"/],
    ['file:///var/lib/keel', /unsupported scheme "file:\/\/"/],
  ])('registry_storage = %j stops start-up with one line naming the key', (value, message) => {
    let error: unknown;
    try {
      parse(`registry_storage = ${JSON.stringify(value)}`);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  test('a bad URL from the environment names the variable', () => {
    expect(() => parse('', { KEEL_PROXY_STORAGE: 's3://' })).toThrow(/KEEL_PROXY_STORAGE="s3:\/\/" \(key "proxy_storage"\): no bucket name/);
  });

  test('registry and proxy may not share keys in one bucket', () => {
    expect(() => parse('registry_storage = "s3://bkt/keel"\nproxy_storage = "s3://bkt/keel"')).toThrow(/key "proxy_storage": shares keys with registry_storage/);
    expect(() => parse('registry_storage = "s3://bkt"\nproxy_storage = "s3://bkt/proxy"')).toThrow(/key "proxy_storage": shares keys/);
    expect(() => parse('registry_storage = "s3://bkt/keel"\nproxy_storage = "s3://bkt/keel/proxy"')).toThrow(/key "proxy_storage": shares keys/);
    expect(parse('registry_storage = "s3://bkt/keel"\nproxy_storage = "s3://bkt/keel-proxy"').storage.proxy).toMatchObject({ prefix: 'keel-proxy' });
  });

  test('parseStorageLocation reads a path that merely holds a colon as a path', () => {
    expect(parseStorageLocation('data:reg')).toEqual({ kind: 'filesystem', path: 'data:reg' });
  });
});

describe('[s3]', () => {
  test('defaults: AWS endpoint, region from the environment chain, redirects on for 20 minutes', () => {
    const { s3 } = parse('');
    expect(s3).toEqual({ endpoint: '', region: '', force_path_style: false, access_key_id: '', secret_access_key: '', redirect: true, redirect_ttl: 20 * 60_000 });
  });

  test('every key from the file and from KEEL_S3_*', () => {
    const toml = '[s3]\nendpoint = "http://127.0.0.1:7480"\nregion = "eu-west-1"\nforce_path_style = true\naccess_key_id = "AK"\nsecret_access_key = "SK"\nredirect = false\nredirect_ttl = "1h"';
    expect(parse(toml).s3).toEqual({ endpoint: 'http://127.0.0.1:7480', region: 'eu-west-1', force_path_style: true, access_key_id: 'AK', secret_access_key: 'SK', redirect: false, redirect_ttl: 3_600_000 });
    const env = {
      KEEL_S3_ENDPOINT: 'https://s3.example',
      KEEL_S3_REGION: 'auto',
      KEEL_S3_FORCE_PATH_STYLE: 'true',
      KEEL_S3_ACCESS_KEY_ID: 'A',
      KEEL_S3_SECRET_ACCESS_KEY: 'S',
      KEEL_S3_REDIRECT: 'false',
      KEEL_S3_REDIRECT_TTL: '7d',
    };
    expect(parse('', env).s3).toEqual({ endpoint: 'https://s3.example', region: 'auto', force_path_style: true, access_key_id: 'A', secret_access_key: 'S', redirect: false, redirect_ttl: 7 * 86_400_000 });
  });

  test('${NAME} in [s3] is read from the environment; an unset one names the variable and the key', () => {
    const toml = '[s3]\naccess_key_id = "${S3_KEY}"\nsecret_access_key = "${S3_SECRET}"';
    expect(parse(toml, { S3_KEY: 'key-from-env', S3_SECRET: 'secret-from-env' }).s3).toMatchObject({ access_key_id: 'key-from-env', secret_access_key: 'secret-from-env' });
    expect(() => parse(toml, { S3_KEY: 'k' })).toThrow(/key "s3.secret_access_key": \$\{S3_SECRET\} not set in the environment/);
  });

  test.each([
    ['redirect_ttl = "8d"', /key "s3.redirect_ttl": expected a duration from "1s" to "7d"/],
    ['redirect_ttl = "0s"', /key "s3.redirect_ttl"/],
    ['redirect_ttl = "soon"', /key "s3.redirect_ttl"/],
    ['endpoint = "ftp://x"', /key "s3.endpoint": expected an http:\/\/ or https:\/\/ URL/],
    ['access_key_id = "only-half"', /key "s3.secret_access_key": s3.access_key_id and s3.secret_access_key go together/],
    ['bucket = "x"', /unknown key "s3.bucket"/],
  ])('%s stops start-up naming the key', (line, message) => {
    expect(() => parse(`[s3]\n${line}`)).toThrow(message);
  });

  test('a changed secret is reported by name only, never by value', () => {
    const before = parseConfigText('[s3]\naccess_key_id = "AK"\nsecret_access_key = "old-secret-value"', 'c.toml', '/').config;
    const after = parseConfigText('[s3]\naccess_key_id = "AK"\nsecret_access_key = "new-secret-value"', 'c.toml', '/').config;
    const changed = changedSettings(before, after);
    expect(changed).toEqual(['s3.secret_access_key']);
    expect(JSON.stringify(changed)).not.toContain('secret-value');
  });
});
