/**
 * What the deployment tests read: YAML files parsed with a real parser, the facts of
 * deploy/Dockerfile the manifests must agree with, and the `KEEL_*` names Keel reads.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { settingVariables } from '../../src/config/env.js';
import type { Config } from '../../src/config/schema.js';

/** Every document of a YAML file; a syntax error or warning in any of them fails the test. */
export function yamlDocuments(path: string): unknown[] {
  // merge: the `<<: *anchor` keys compose files use (YAML 1.1, which Docker Compose reads).
  return parseAllDocuments(readFileSync(path, 'utf8'), { merge: true }).map((doc) => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${path}: ${problems.map((p) => p.message).join('; ')}`);
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  });
}

/** The variables Keel reads: every setting's, and KEEL_CONFIG (which file to read). */
export const KEEL_NAMES: ReadonlySet<string> = new Set([...settingVariables(), 'KEEL_CONFIG']);

/** Every `KEEL_*` name in the parsed values and keys (not the comments) of `value`. */
export function keelNamesIn(value: unknown): string[] {
  const found = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v === 'string') for (const m of v.matchAll(/\bKEEL_[A-Z0-9_]+/g)) found.add(m[0]);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      for (const [key, inner] of Object.entries(v)) {
        walk(key);
        walk(inner);
      }
    }
  };
  walk(value);
  return [...found].sort();
}

export interface ImageFacts {
  workdir: string;
  /** The image's KEEL_CONFIG. */
  config: string;
  volume: string;
  port: number;
  /** Paths of the executables the image holds (/opt/keel/scripts/keel, ...). */
  scripts: string[];
  /** The uid and gid of the image's user keel. */
  uid: number;
  gid: number;
}

function match(text: string, re: RegExp, what: string): string {
  const m = re.exec(text);
  if (!m?.[1]) throw new Error(`deploy/Dockerfile: no ${what} found (${re})`);
  return m[1];
}

/**
 * What deploy/Dockerfile sets. The user is made with `useradd --system --uid 999` (when no
 * --uid/--gid were given, Debian's useradd and groupadd would take the highest free system id,
 * SYS_UID_MAX, 999, too); the image test checks the running process has it.
 */
export function imageFacts(): ImageFacts {
  const text = readFileSync('deploy/Dockerfile', 'utf8');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const workdir = match(runtime, /^WORKDIR\s+(\S+)/m, 'WORKDIR');
  // The build stage moves the context's scripts/ to /opt/keel/scripts; .dockerignore says which
  // executables the context holds.
  if (!/\bmv\b[^\n]*\bscripts\b[^\n]*\/out\/opt\/keel\//.test(text)) throw new Error('deploy/Dockerfile: scripts/ is no longer moved to /opt/keel');
  const copied = [...readFileSync('.dockerignore', 'utf8').matchAll(/^!(scripts\/\S+)$/gm)].map((m) => m[1] as string).join(' ');
  if (copied === '') throw new Error('.dockerignore: no scripts/ executable is let into the build context');
  const user = match(runtime, /^USER\s+(\S+)/m, 'USER');
  if (user !== 'keel') throw new Error(`deploy/Dockerfile: USER ${user}, the manifests expect keel`);
  const uid = /useradd\b[^\n]*(?:--uid|-u)\s+(\d+)/.exec(runtime)?.[1];
  const gid = /groupadd\b[^\n]*(?:--gid|-g)\s+(\d+)/.exec(runtime)?.[1];
  return {
    workdir,
    config: match(runtime, /KEEL_CONFIG=(\S+)/, 'KEEL_CONFIG'),
    volume: JSON.parse(match(runtime, /^VOLUME\s+\[("[^"]+")\]/m, 'VOLUME')) as string,
    port: Number(match(runtime, /^EXPOSE\s+(\d+)/m, 'EXPOSE')),
    scripts: copied.trim().split(/\s+/).map((s) => `${workdir}/${s}`),
    uid: Number(uid ?? 999),
    gid: Number(gid ?? 999),
  };
}

/** The storage paths of a configuration, which must all be on the data volume. */
export function storagePaths(config: Config): Record<string, string> {
  return {
    registry_storage: config.registry_storage,
    temporary_registry_storage: config.temporary_registry_storage,
    proxy_storage: config.proxy_storage,
    database: config.database,
    'auth.signing_key': config.auth.signing_key,
  };
}

/** `path` is `dir` or inside it. */
export function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir.replace(/\/$/, '')}/`);
}
