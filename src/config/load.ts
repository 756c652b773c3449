/**
 * Reads configuration once at start: embedded defaults, then the TOML file, then
 * `KEEL_*` environment variables (env.ts); expands `${NAME}` in upstreams and [s3] (interpolate.ts);
 * validates; resolves storage paths against the directory of the configuration file; returns
 * a deeply frozen Config, with the file actually read and the warnings start-up should log.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import TOML from '@iarna/toml';
import { DEFAULTS } from './defaults.js';
import { fromEnv, type EnvOrigin } from './env.js';
import { ConfigError } from './errors.js';
import { interpolateS3, interpolateUpstreams } from './interpolate.js';
import { configSchema, type Config } from './schema.js';
import { parseIndexLocation, redactUrl, type IndexLocation } from './index-location.js';
import { parseStorageLocation, type StorageLocation } from './storage-location.js';
import { merge, type Table } from './table.js';

export { ConfigError } from './errors.js';
export { envName } from './env.js';

export interface LoadOptions {
  /** Path of the TOML file; when it does not exist and `optional` is set, defaults are used. */
  file: string;
  optional?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Settings applied over file and environment (tests use this). */
  overrides?: Table;
}

export interface ParsedConfig {
  config: Config;
  /** Worth a warning, not worth refusing to start: unknown `KEEL_` variables, unset credentials. */
  warnings: string[];
}

export interface LoadedConfig extends ParsedConfig {
  /** The file read, or undefined when there was none and the embedded defaults were used. */
  file: string | undefined;
  /** The file looked for. */
  looked: string;
}

function formatIssuePath(path: PropertyKey[]): string {
  return path.map(String).join('.');
}

/** The variable that set the value at `path` (or a table holding it), if one did. */
function originOf(path: PropertyKey[], origins: EnvOrigin[]): EnvOrigin | undefined {
  return origins.find((o) => o.path.length <= path.length && o.path.every((key, i) => key === String(path[i])));
}

/** Like parseConfig, and also returns the warnings. */
export function parseConfigText(text: string, source: string, baseDir: string, env: NodeJS.ProcessEnv = {}, overrides: Table = {}): ParsedConfig {
  let parsed: Table;
  try {
    parsed = TOML.parse(text) as Table;
  } catch (err) {
    throw new ConfigError(`${source}: not valid TOML: ${(err as Error).message}`);
  }
  const environment = fromEnv(env);
  const interpolated = interpolateUpstreams(merge(merge(merge(DEFAULTS as unknown as Table, parsed), environment.settings), overrides), env, source);
  const warnings = [...(environment.warning ? [environment.warning] : []), ...interpolated.warnings];
  const result = configSchema.safeParse(interpolateS3(interpolated.raw, env, source));
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys.map((k) => formatIssuePath([...issue.path, k]));
        return `${source}: unknown key ${keys.map((k) => `"${k}"`).join(', ')}`;
      }
      const origin = originOf(issue.path, environment.origins);
      // A value from the environment is blamed on its variable: the file may not even mention the key.
      // A database URL may hold a password: never repeated in a message.
      const shown = issue.path[0] === 'database' && origin ? redactUrl(origin.value) : origin?.value;
      if (origin) return `${origin.variable}=${JSON.stringify(shown)} (key "${formatIssuePath(issue.path)}"): ${issue.message}`;
      return `${source}: key "${formatIssuePath(issue.path)}": ${issue.message}`;
    });
    throw new ConfigError(lines.join('; '));
  }
  const data = result.data;
  const location = (text: string): StorageLocation => {
    const parsed = parseStorageLocation(text);
    if ('error' in parsed) throw new Error(`unreachable: the schema accepted ${JSON.stringify(text)}`);
    return parsed.kind === 'filesystem' ? { kind: 'filesystem', path: resolve(baseDir, parsed.path) } : parsed;
  };
  const registry = location(data.registry_storage);
  const proxy = location(data.proxy_storage);
  const parsedIndex = parseIndexLocation(data.database);
  if ('error' in parsedIndex) throw new Error('unreachable: the schema accepted an invalid database');
  const index: IndexLocation = parsedIndex.kind === 'sqlite' ? { kind: 'sqlite', path: resolve(baseDir, parsedIndex.path) } : parsedIndex;
  // The string fields keep their old meaning for paths (resolved), and hold the URL for S3 and PostgreSQL.
  const config: Config = {
    ...data,
    registry_storage: registry.kind === 'filesystem' ? registry.path : data.registry_storage,
    proxy_storage: proxy.kind === 'filesystem' ? proxy.path : data.proxy_storage,
    database: index.kind === 'sqlite' ? index.path : index.url,
    storage: { registry, proxy },
    index,
  };
  config.temporary_registry_storage = resolve(baseDir, config.temporary_registry_storage);
  for (const key of ['htpasswd', 'signing_key'] as const) {
    if (config.auth[key] !== '') config.auth[key] = resolve(baseDir, config.auth[key]);
  }
  for (const key of ['cert', 'key'] as const) {
    if (config.tls[key] !== '') config.tls[key] = resolve(baseDir, config.tls[key]);
  }
  return { config: deepFreeze(config), warnings };
}

export function parseConfig(text: string, source: string, baseDir: string, env: NodeJS.ProcessEnv = {}, overrides: Table = {}): Config {
  return parseConfigText(text, source, baseDir, env, overrides).config;
}

export function readConfig(options: LoadOptions): LoadedConfig {
  const file = resolve(options.file);
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (!(options.optional && (err as NodeJS.ErrnoException).code === 'ENOENT')) {
      throw new ConfigError(`cannot read configuration file ${file}: ${(err as Error).message}`);
    }
  }
  const parsed = parseConfigText(text ?? '', file, dirname(file), options.env ?? process.env, options.overrides);
  return { ...parsed, file: text === undefined ? undefined : file, looked: file };
}

export function loadConfig(options: LoadOptions): Config {
  return readConfig(options).config;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
