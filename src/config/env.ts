/**
 * Settings from `KEEL_*` environment variables. Each leaf `a.b_c` of DEFAULTS is `KEEL_A_B_C`;
 * `proxy.aliases`, whose keys hold dots no shell can put in a variable name, is one variable
 * of `name=target` pairs; tables of named entries (upstreams, groups, access rules) live only in
 * the file. A `KEEL_` variable that is no setting is not fatal: orchestrators put their own
 * there (Kubernetes gives every pod `KEEL_PORT`, `KEEL_SERVICE_HOST`, ... for a Service named
 * keel), so it is reported as a warning, with the setting it is probably a typo of.
 */
import { DEFAULTS } from './defaults.js';
import { ConfigError } from './errors.js';
import { isTable, merge, type Table } from './table.js';

/** Where a setting came from, so that an invalid value names its variable, not the file. */
export interface EnvOrigin {
  /** The setting's path (["limits", "max_list_page"]; ["proxy", "aliases", "docker.io"] for one pair). */
  path: string[];
  variable: string;
  value: string;
}

export interface EnvSettings {
  settings: Table;
  origins: EnvOrigin[];
  /** One line for every `KEEL_` variable that is no setting, or undefined when there is none. */
  warning: string | undefined;
}

/** Tables whose keys are names the user chooses: not leaves, and only in the file. */
const FILE_ONLY = new Set(['proxy.upstreams', 'proxy.groups', 'proxy.sync', 'auth.groups', 'auth.access']);
/** Tables of names settable as one `name=target,name=target` variable. */
const PAIRS = new Set(['proxy.aliases']);
/** Read by main.ts and the GC before any of this: which file to read. */
const NOT_SETTINGS = new Set(['KEEL_CONFIG']);

export function envName(path: string[]): string {
  return `KEEL_${path.join('_').toUpperCase()}`;
}

interface Setting {
  path: string[];
  like: unknown;
  pairs: boolean;
}

function settings(table: Table, prefix: string[] = []): Setting[] {
  return Object.entries(table).flatMap(([key, value]): Setting[] => {
    const path = [...prefix, key];
    const dotted = path.join('.');
    if (FILE_ONLY.has(dotted)) return [];
    if (PAIRS.has(dotted)) return [{ path, like: value, pairs: true }];
    return isTable(value) ? settings(value, path) : [{ path, like: value, pairs: false }];
  });
}

const SETTINGS = new Map(settings(DEFAULTS as unknown as Table).map((s) => [envName(s.path), s]));

/** Every variable Keel reads as a setting, in DEFAULTS order (for --help and the README). */
export function settingVariables(): string[] {
  return [...SETTINGS.keys()];
}

function coerce(variable: string, text: string, setting: Setting): unknown {
  const { like } = setting;
  const got = `${variable}=${JSON.stringify(text)}`;
  if (setting.pairs) {
    const out: Record<string, string> = {};
    for (const pair of text.split(',').map((s) => s.trim()).filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq <= 0 || eq === pair.length - 1) throw new ConfigError(`${got}: expected name=target pairs separated by commas (e.g. "docker.io=hub,quay.io=quay.io"), got ${JSON.stringify(pair)}`);
      out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
    return out;
  }
  if (typeof like === 'number') {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`${got}: expected a number`);
    return n;
  }
  if (typeof like === 'boolean') {
    if (!/^(true|false|1|0)$/i.test(text)) throw new ConfigError(`${got}: expected true or false`);
    return /^(true|1)$/i.test(text);
  }
  if (Array.isArray(like)) return text.split(',').map((s) => s.trim()).filter(Boolean);
  return text;
}

/** Kubernetes service links of a Service named "keel": KEEL_PORT, KEEL_PORT_5000_TCP_ADDR, KEEL_SERVICE_HOST, ... */
const SERVICE_LINK = /^KEEL_(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?|PORT_\d+_(?:TCP|UDP|SCTP)(?:_(?:ADDR|PORT|PROTO))?)$/;

function isServiceLink(name: string, value: string): boolean {
  return name === 'KEEL_PORT' ? /^(tcp|udp|sctp):\/\//.test(value) : SERVICE_LINK.test(name);
}

/** Names people reach for that mean another setting. */
const MEANT: Record<string, string> = { KEEL_PORT: 'KEEL_LISTEN', KEEL_HOST: 'KEEL_LISTEN', KEEL_ADDRESS: 'KEEL_LISTEN', KEEL_BIND: 'KEEL_LISTEN', KEEL_STORAGE: 'KEEL_REGISTRY_STORAGE' };

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] as number;
}

function suggestion(name: string): string | undefined {
  const meant = MEANT[name];
  if (meant) return meant;
  let best: { name: string; d: number } | undefined;
  for (const known of SETTINGS.keys()) {
    // A prefix of a real name ("KEEL_LIMITS_MAX_MANIFEST") is close whatever its length.
    const d = known.startsWith(`${name}_`) ? 1 : distance(name, known);
    if (d <= Math.max(2, Math.floor(known.length / 8)) && (!best || d < best.d)) best = { name: known, d };
  }
  return best?.name;
}

function describeUnknown(unknown: Array<[string, string]>): string | undefined {
  if (unknown.length === 0) return undefined;
  const links = unknown.filter(([name, value]) => isServiceLink(name, value)).map(([name]) => name);
  const named = unknown.map(([name, value]) => {
    if (isServiceLink(name, value)) return name;
    const path = name.slice('KEEL_'.length).toLowerCase();
    if ([...FILE_ONLY].some((key) => key.replace('.', '_') === path || path.startsWith(`${key.replace('.', '_')}_`))) return `${name} (settable only in the configuration file)`;
    const meant = suggestion(name);
    return meant ? `${name} (did you mean ${meant}?)` : name;
  });
  let line = `ignoring unknown environment variables ${named.join(', ')}`;
  if (links.length > 0) line += `; ${links.length === unknown.length ? 'they' : `${links.join(', ')}`} look like Kubernetes service links of a Service named "keel" (enableServiceLinks: false in the pod spec drops them)`;
  return line;
}

/** Reads the settings in `env`; a bad value of a real setting is a ConfigError naming the variable. */
export function fromEnv(env: NodeJS.ProcessEnv): EnvSettings {
  let out: Table = {};
  const origins: EnvOrigin[] = [];
  const unknown: Array<[string, string]> = [];
  for (const [name, text] of Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!name.startsWith('KEEL_') || NOT_SETTINGS.has(name) || text === undefined) continue;
    const setting = SETTINGS.get(name);
    if (!setting) {
      unknown.push([name, text]);
      continue;
    }
    const value = coerce(name, text, setting);
    const paths = setting.pairs ? Object.keys(value as Table).map((key) => [...setting.path, key]) : [setting.path];
    for (const path of paths) origins.push({ path, variable: name, value: text });
    out = merge(out, setting.path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Table);
  }
  return { settings: out, origins, warning: describeUnknown(unknown) };
}
