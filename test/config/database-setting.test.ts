// `database` as a SQLite path or a postgres:// URL: parsed once into config.index; a bad
// value stops start-up with one line naming the key; a password never reaches a message.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { describeIndex, redactUrl } from '../../src/config/index-location.js';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { checkStorage } from '../../src/config/preflight.js';

const parse = (toml: string, env: NodeJS.ProcessEnv = {}) => parseConfig(toml, 'c.toml', '/base', env);

describe('database setting', () => {
  test('a plain path stays SQLite, resolved against the configuration directory', () => {
    const config = parse('database = "data/index.db"');
    expect(config.index).toEqual({ kind: 'sqlite', path: '/base/data/index.db' });
    expect(config.database).toBe('/base/data/index.db');
  });

  test('postgres:// and postgresql:// URLs select PostgreSQL, kept as written (query parameters included)', () => {
    const url = 'postgres://keel:s3cret@db.internal:5432/keel?sslmode=verify-full&application_name=keel';
    expect(parse(`database = "${url}"`).index).toEqual({ kind: 'postgres', url });
    expect(parse('database = "postgresql://db/keel"').index).toEqual({ kind: 'postgres', url: 'postgresql://db/keel' });
    // Nothing but the scheme: host, user, password and database come from PGHOST, PGUSER, ... (pg reads them).
    expect(parse('database = "postgres://"').index).toEqual({ kind: 'postgres', url: 'postgres://' });
    expect(parse('', { KEEL_DATABASE: 'postgres:///keel' }).index).toEqual({ kind: 'postgres', url: 'postgres:///keel' });
  });

  test('another scheme or a broken URL names the key, without repeating a password', () => {
    expect(() => parse('database = "mysql://db/keel"')).toThrow(/key "database": unsupported scheme "mysql:\/\/"/);
    let message = '';
    try {
      parse('database = "postgres://keel:p@ss@wo rd@db:99999/keel"');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/key "database": not a valid postgres:\/\/ URL/);
    expect(message).not.toMatch(/ss@wo/);
    expect(() => parse('', { KEEL_DATABASE: 'postgres://u:hidden@db:99999/x' })).toThrow(/^KEEL_DATABASE="postgres:\/\/\*\*\*@db:99999\/x" \(key "database"\): not a valid/);
  });

  test('logs show the URL with its password hidden, in the user part and in a password= parameter', () => {
    expect(describeIndex({ kind: 'postgres', url: 'postgres://keel:s3cret@db:5432/keel?sslmode=require' })).toBe('postgres://keel:***@db:5432/keel?sslmode=require');
    expect(redactUrl('postgresql://db/keel?password=s3cret&sslmode=disable')).toBe('postgresql://db/keel?password=***&sslmode=disable');
    expect(redactUrl('postgres://keel@db/keel')).toBe('postgres://keel@db/keel');
    expect(describeIndex({ kind: 'sqlite', path: '/var/lib/keel/index.db' })).toBe('/var/lib/keel/index.db');
  });

  test('preflight leaves a PostgreSQL database to the connection (no file is made for it)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-dbset-'));
    try {
      const stores = `registry_storage = "${dir}/r"\ntemporary_registry_storage = "${dir}/t"\nproxy_storage = "${dir}/p"\n`;
      // A SQLite database under /proc cannot be made: preflight refuses it; a URL is not a path.
      expect(() => checkStorage(parse(`${stores}database = "/proc/keel/index.db"`))).toThrow(/database/);
      expect(() => checkStorage(parse(`${stores}database = "postgres://keel@127.0.0.1:1/keel"`))).not.toThrow();
      expect(readdirSync(dir).sort()).toEqual(['p', 'r', 't']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
