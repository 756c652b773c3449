/**
 * `${NAME}` in the strings under `proxy.upstreams` and `[s3]` is read from the environment, so
 * that credentials stay out of the file. Under `[s3]` an unset variable is a ConfigError: the
 * bucket cannot be used with half its settings. A variable that is not set is never silently empty: in a
 * `username` or `password` it is a warning and that upstream is used without credentials (many
 * upstreams serve anonymous pulls, with lower rate limits); anywhere else it is a ConfigError
 * naming the variable and the key.
 */
import { ConfigError } from './errors.js';
import { isTable, type Table } from './table.js';

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const CREDENTIALS = new Set(['username', 'password']);

export interface Interpolated {
  raw: Table;
  warnings: string[];
}

function key(path: string[]): string {
  return `key "${path.join('.')}"`;
}

export function interpolateUpstreams(raw: Table, env: NodeJS.ProcessEnv, source: string): Interpolated {
  const proxy = raw.proxy;
  if (!isTable(proxy) || !isTable(proxy.upstreams)) return { raw, warnings: [] };
  const warnings: string[] = [];
  const missing = (value: string): string[] => [...value.matchAll(REFERENCE)].map((m) => m[1] as string).filter((name) => env[name] === undefined);
  const expand = (value: unknown, path: string[]): unknown => {
    if (typeof value === 'string') {
      const unset = missing(value);
      if (unset.length > 0) {
        throw new ConfigError(`${source}: ${key(path)}: ${unset.map((n) => `\${${n}}`).join(', ')} not set in the environment (set it, or write the value in the file)`);
      }
      return value.replace(REFERENCE, (_m, name: string) => env[name] as string);
    }
    if (Array.isArray(value)) return value.map((v, i) => expand(v, [...path, String(i)]));
    if (isTable(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, [...path, k])]));
    return value;
  };
  const upstreams: Table = {};
  for (const [name, upstream] of Object.entries(proxy.upstreams)) {
    if (!isTable(upstream)) {
      upstreams[name] = upstream;
      continue;
    }
    const path = ['proxy', 'upstreams', name];
    const unsetCredentials = [...CREDENTIALS].flatMap((field) => {
      const value = upstream[field];
      return typeof value === 'string' && missing(value).length > 0 ? [`${key([...path, field])}: ${missing(value).map((n) => `\${${n}}`).join(', ')}`] : [];
    });
    let kept = upstream;
    if (unsetCredentials.length > 0) {
      warnings.push(`${source}: ${unsetCredentials.join('; ')} not set in the environment; upstream "${name}" is used without credentials`);
      kept = Object.fromEntries(Object.entries(upstream).filter(([field]) => !CREDENTIALS.has(field)));
    }
    upstreams[name] = expand(kept, path);
  }
  return { raw: { ...raw, proxy: { ...proxy, upstreams } }, warnings };
}

/** Expands `${NAME}` in every string of the `[s3]` table; an unset variable is a ConfigError naming it and the key. */
export function interpolateS3(raw: Table, env: NodeJS.ProcessEnv, source: string): Table {
  const s3 = raw.s3;
  if (!isTable(s3)) return raw;
  const expanded: Table = {};
  for (const [field, value] of Object.entries(s3)) {
    if (typeof value !== 'string') {
      expanded[field] = value;
      continue;
    }
    const unset = [...value.matchAll(REFERENCE)].map((m) => m[1] as string).filter((name) => env[name] === undefined);
    if (unset.length > 0) {
      throw new ConfigError(`${source}: ${key(['s3', field])}: ${unset.map((n) => `\${${n}}`).join(', ')} not set in the environment (set it, or write the value in the file)`);
    }
    expanded[field] = value.replace(REFERENCE, (_m, name: string) => env[name] as string);
  }
  return { ...raw, s3: expanded };
}
