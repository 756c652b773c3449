/**
 * Which settings differ between two loaded configurations, as dotted key paths
 * (`listen`, `proxy.upstreams.hub.password`): names only, never values, since values can be
 * credentials. A reload (SIGHUP) uses it to say which edits wait for a restart.
 */
import type { Config } from './schema.js';

type Plain = { [key: string]: unknown };

function isPlain(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function walk(a: unknown, b: unknown, path: string[], out: string[]): void {
  if (isPlain(a) && isPlain(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[key], b[key], [...path, key], out);
    return;
  }
  // Leaves are strings, numbers, booleans and arrays of them or of small tables (rules): JSON compares them.
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(path.join('.'));
}

/** Key paths whose values differ, except those under `ignore` (dotted prefixes). */
export function changedSettings(before: Config, after: Config, ignore: readonly string[] = []): string[] {
  const out: string[] = [];
  walk(before, after, [], out);
  return out.filter((path) => !ignore.some((prefix) => path === prefix || path.startsWith(`${prefix}.`)));
}
