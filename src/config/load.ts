/**
 * Reads configuration once at start: embedded defaults, then the TOML file, then
 * `KEEL_*` environment variables; validates; resolves storage paths against the
 * directory of the configuration file; returns a deeply frozen Config.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import TOML from '@iarna/toml';
import { DEFAULTS } from './defaults.js';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Table = { [key: string]: unknown };

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function merge(base: Table, over: Table): Table {
  const out: Table = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] = isTable(prev) && isTable(value) ? merge(prev, value) : value;
  }
  return out;
}

/** Every leaf of DEFAULTS as [path, default value]. */
function leaves(table: Table, prefix: string[] = []): Array<[string[], unknown]> {
  return Object.entries(table).flatMap(([key, value]): Array<[string[], unknown]> =>
    isTable(value) ? leaves(value, [...prefix, key]) : [[[...prefix, key], value]],
  );
}

export function envName(path: string[]): string {
  return `KEEL_${path.join('_').toUpperCase()}`;
}

function coerceEnv(name: string, text: string, like: unknown): unknown {
  if (typeof like === 'number') {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`${name}: expected a number, got ${JSON.stringify(text)}`);
    return n;
  }
  if (typeof like === 'boolean') {
    if (!/^(true|false|1|0)$/i.test(text)) throw new ConfigError(`${name}: expected true or false, got ${JSON.stringify(text)}`);
    return /^(true|1)$/i.test(text);
  }
  if (Array.isArray(like)) return text.split(',').map((s) => s.trim()).filter(Boolean);
  return text;
}

/** Settings from `KEEL_*` variables; an unknown `KEEL_` variable is an error (a typo would otherwise be silently ignored). */
function fromEnv(env: NodeJS.ProcessEnv): Table {
  const known = new Map(leaves(DEFAULTS).map(([path, like]) => [envName(path), { path, like }]));
  let out: Table = {};
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('KEEL_') || name === 'KEEL_CONFIG' || text === undefined) continue;
    const setting = known.get(name);
    if (!setting) throw new ConfigError(`${name}: unknown setting (known: ${[...known.keys()].join(', ')})`);
    const value = coerceEnv(name, text, setting.like);
    const patch = setting.path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Table;
    out = merge(out, patch);
  }
  return out;
}

/**
 * Replaces `${NAME}` in every string under `proxy.upstreams` with the environment variable
 * (empty when unset), so credentials stay out of the file.
 */
function interpolateUpstreams(raw: Table, env: NodeJS.ProcessEnv): Table {
  const proxy = raw.proxy;
  if (!isTable(proxy) || !isTable(proxy.upstreams)) return raw;
  const expand = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => env[name] ?? '');
    if (Array.isArray(value)) return value.map(expand);
    if (isTable(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v)]));
    return value;
  };
  return { ...raw, proxy: { ...proxy, upstreams: expand(proxy.upstreams) } };
}

function formatIssuePath(path: PropertyKey[]): string {
  return path.map(String).join('.');
}

export interface LoadOptions {
  /** Path of the TOML file; when it does not exist and `optional` is set, defaults are used. */
  file: string;
  optional?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Settings applied over file and environment (tests use this). */
  overrides?: Table;
}

export function parseConfig(text: string, source: string, baseDir: string, env: NodeJS.ProcessEnv = {}, overrides: Table = {}): Config {
  let parsed: Table;
  try {
    parsed = TOML.parse(text) as Table;
  } catch (err) {
    throw new ConfigError(`${source}: not valid TOML: ${(err as Error).message}`);
  }
  const raw = interpolateUpstreams(merge(merge(merge(DEFAULTS as unknown as Table, parsed), fromEnv(env)), overrides), env);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys.map((k) => formatIssuePath([...issue.path, k]));
        return `unknown key ${keys.map((k) => `"${k}"`).join(', ')}`;
      }
      return `key "${formatIssuePath(issue.path)}": ${issue.message}`;
    });
    throw new ConfigError(`${source}: ${lines.join('; ')}`);
  }
  const config = result.data;
  for (const key of ['registry_storage', 'temporary_registry_storage', 'proxy_storage', 'database'] as const) {
    config[key] = resolve(baseDir, config[key]);
  }
  for (const key of ['htpasswd', 'signing_key'] as const) {
    if (config.auth[key] !== '') config.auth[key] = resolve(baseDir, config.auth[key]);
  }
  for (const key of ['cert', 'key'] as const) {
    if (config.tls[key] !== '') config.tls[key] = resolve(baseDir, config.tls[key]);
  }
  return deepFreeze(config);
}

export function loadConfig(options: LoadOptions): Config {
  const file = resolve(options.file);
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (!(options.optional && (err as NodeJS.ErrnoException).code === 'ENOENT')) {
      throw new ConfigError(`cannot read configuration file ${file}: ${(err as Error).message}`);
    }
  }
  return parseConfig(text, file, dirname(file), options.env ?? process.env, options.overrides);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
