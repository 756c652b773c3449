/**
 * Validation of the merged raw settings (defaults ← TOML ← environment) into the typed,
 * frozen Config the rest of Keel receives. Unknown keys and wrong types are errors that
 * name the key.
 */
import semver from 'semver';
import { z } from 'zod';
import { DEFAULTS } from './defaults.js';
import { parseIndexLocation, type IndexLocation } from './index-location.js';
import { overlaps, parseStorageLocation, type StorageLocation } from './storage-location.js';
import { parseDuration, parseSize } from './units.js';
import { repositoryPatternProblem } from '../primitives/repository-glob.js';

const DEFAULT_ALIASES: Record<string, string> = DEFAULTS.proxy.aliases;

const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const bytes = parseSize(v);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as "4MiB" or a number of bytes, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return bytes;
});

/** Bytes a second: a size, optionally written with "/s" ("50MiB/s"). */
const rate = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const bytes = parseSize(typeof v === 'string' ? v.replace(/\/s\s*$/i, '') : v);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected bytes a second such as "50MiB/s", or 0 for no cap, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return bytes;
});

const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as "30s", "5m" or "1h30m", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
});

const listen = z.string().transform((v, ctx) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected "host:port" (e.g. "0.0.0.0:5000"), got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
});

const path = z.string().min(1);

/** A directory or an s3:// URL; which one is worked out in load.ts (storage-location.ts). */
const storage = path.superRefine((v, ctx) => {
  const location = parseStorageLocation(v);
  if ('error' in location) ctx.addIssue({ code: 'custom', message: location.error });
});

/** A SQLite file path or a postgres:// URL; which one is worked out in load.ts (index-location.ts). */
const database = path.superRefine((v, ctx) => {
  const location = parseIndexLocation(v);
  if ('error' in location) ctx.addIssue({ code: 'custom', message: location.error });
});

/** S3 signs presigned URLs for at most 7 days, in whole seconds. */
const MAX_PRESIGN_MS = 7 * 24 * 3_600_000;

/** An upstream name is one component of a repository name: it stands in `proxy/<name>/...`. */
const UPSTREAM_NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

const upstream = z
  .object({
    url: z.url({ protocol: /^https?$/ }).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    allow_private: z.boolean().default(false),
    headers: z.record(z.string(), z.string()).default({}),
    tag_ttl: duration.optional(),
    timeout: duration.optional(),
    auth_hosts: z.array(z.string()).default([]),
  })
  .strict();

export type UpstreamConfig = z.output<typeof upstream>;

const upstreamName = z.string().regex(UPSTREAM_NAME, 'an upstream name must be a lower-case repository name component');

const group = z
  .object({
    members: z.array(upstreamName).min(1),
    tag_ttl: duration.optional(),
  })
  .strict();

/** Scheduled syncs run at most this often: each run costs the upstream a tag list and a HEAD per tag. */
export const MIN_SYNC_INTERVAL_MS = 60_000;
const PLATFORM = /^[^/\s]+\/[^/\s]+(?:\/[^/\s]+)?$/;

/** One `[[proxy.sync]]` entry; `upstream` and `tags` are checked against the rest in superRefine below. */
const syncEntry = z
  .object({
    upstream: z.string().min(1),
    /** Repository names on the upstream, or globs over them (primitives/repository-glob.ts), listed from its catalog. */
    repositories: z
      .array(
        z.string().superRefine((pattern, ctx) => {
          const problem = repositoryPatternProblem(pattern);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
        }),
      )
      .min(1),
    /** A regular expression a whole tag must match (anchored here: "v1\\..*" does not match "xv1.0"). */
    tags: z.string().min(1).default('.*'),
    /** A semver range the tags must be versions in (`>=1.2 <2`, `^3.19`); `newest` then goes by version. */
    semver: z.string().min(1).optional(),
    newest: z.number().int().min(1).optional(),
    platforms: z.array(z.string().regex(PLATFORM, 'expected os/architecture[/variant], e.g. "linux/arm64"')).default([]),
    interval: duration.refine((ms) => ms >= MIN_SYNC_INTERVAL_MS, 'expected a duration of at least "1m"'),
    pin: z.boolean().default(false),
  })
  .strict();

export type SyncEntryConfig = z.output<typeof syncEntry>;

export const configSchema = z
  .object({
    listen,
    registry_storage: storage,
    temporary_registry_storage: path,
    proxy_storage: storage,
    database,
    database_pool_size: z.number().int().min(1).max(1000),
    limits: z
      .object({
        max_manifest_size: size,
        max_list_page: z.number().int().positive(),
        manifest_cache_size: size,
        max_blob_size: size,
        blob_streams: z.number().int().min(1),
        blob_stream_queue: z.number().int().min(0),
        blob_stream_wait: duration,
        blob_send_memory: size,
      })
      .strict(),
    http: z
      .object({
        max_header_size: size,
        idle_timeout: duration,
        headers_timeout: duration,
        shutdown_timeout: duration,
      })
      .strict(),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
        format: z.enum(['json', 'pretty']),
      })
      .strict(),
    metrics: z
      .object({
        enabled: z.boolean(),
        listen: z.union([z.literal(''), listen]),
        users: z.array(z.string().min(1)),
      })
      .strict(),
    ui: z
      .object({
        enabled: z.boolean(),
        // "" or "/a/b": a leading slash, no trailing one, URL-safe path characters only (it is written into every link).
        path_prefix: z.union([z.literal(''), z.string().regex(/^(\/[A-Za-z0-9._~-]+)+$/, 'expected "" or a path such as "/registry" (a leading slash, no trailing one)')]),
      })
      .strict(),
    proxy: z
      .object({
        allow: z.array(z.string().regex(UPSTREAM_NAME, 'expected a lower-case host name')),
        tag_ttl: duration,
        timeout: duration,
        backoff: duration,
        upstreams: z.record(upstreamName, upstream),
        groups: z.record(upstreamName, group),
        aliases: z.record(upstreamName, upstreamName),
        sync: z.array(syncEntry),
        warm: z
          .object({
            concurrency: z.number().int().min(1).max(64),
            bandwidth: rate,
          })
          .strict(),
      })
      .strict(),
    auth: z
      .object({
        htpasswd: z.string(),
        realm: z.string(),
        service: z.string().min(1),
        issuer: z.string().min(1),
        token_ttl: duration,
        ui_session_ttl: duration.refine((ms) => ms >= 60_000, 'expected a duration of at least "1m"'),
        signing_key: z.string().min(1),
        groups: z.record(z.string(), z.array(z.string())),
        access: z.array(
          z
            .object({
              repository: z.string().min(1),
              users: z.array(z.string().min(1)).min(1),
              actions: z.array(z.enum(['pull', 'push', 'delete'])).min(1),
            })
            .strict(),
        ),
        password_workers: z.number().int().min(1).max(64),
        password_queue: z.number().int().min(0),
        password_cache_ttl: duration,
        failures: z
          .object({
            window: duration,
            per_client: z.number().int().min(0),
            per_user: z.number().int().min(0),
          })
          .strict(),
      })
      .strict(),
    s3: z
      .object({
        endpoint: z.union([z.literal(''), z.url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL' })]),
        region: z.string(),
        force_path_style: z.boolean(),
        access_key_id: z.string(),
        secret_access_key: z.string(),
        redirect: z.boolean(),
        redirect_ttl: duration.refine((ms) => ms >= 1000 && ms <= MAX_PRESIGN_MS, 'expected a duration from "1s" to "7d" (S3 presigned URLs last at most 7 days)'),
      })
      .strict(),
    cluster: z
      .object({
        replica: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$|^$/, 'expected a name of letters, digits, ".", "_" and "-", at most 63'),
        advertise_url: z.union([z.literal(''), z.url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL' })]),
        download_lease_ttl: duration,
        download_lease_renew: duration,
        upload_claim_ttl: duration.refine((ms) => ms >= 300, 'expected a duration of at least "300ms" (the claim is renewed every third of it)'),
      })
      .strict()
      .refine((c) => c.download_lease_renew > 0 && c.download_lease_renew < c.download_lease_ttl, {
        message: 'download_lease_renew must be more than 0 and less than download_lease_ttl',
        path: ['download_lease_renew'],
      }),
    tls: z.object({ cert: z.string(), key: z.string() }).strict(),
    gc: z
      .object({
        grace: duration,
        upload_max_age: duration,
        proxy: z.object({ max_age: duration, max_size: size }).strict(),
      })
      .strict(),
    mirror: z
      .object({
        upstream: z.string(),
        ns: z.boolean(),
      })
      .strict(),
  })
  .strict()
  .superRefine((config, ctx) => {
    // Names that refer to upstreams must resolve: a typo is a start-up error, not a 403 later.
    const { allow, upstreams, groups, aliases } = config.proxy;
    const isUpstream = (n: string): boolean => n in upstreams || allow.includes(n);
    const isSource = (n: string): boolean => isUpstream(n) || n in groups;
    for (const [name, g] of Object.entries(groups)) {
      if (name in upstreams) ctx.addIssue({ code: 'custom', path: ['proxy', 'groups', name], message: `"${name}" is both an upstream and a group` });
      g.members.forEach((member, i) => {
        if (!isUpstream(member)) {
          ctx.addIssue({ code: 'custom', path: ['proxy', 'groups', name, 'members', i], message: `"${member}" is neither in proxy.allow nor under [proxy.upstreams]` });
        }
      });
    }
    for (const [alias, target] of Object.entries(aliases)) {
      // Default aliases point at public registries a narrowed allow list may leave out; only user aliases must resolve.
      if (!isSource(target) && !(alias in DEFAULT_ALIASES && DEFAULT_ALIASES[alias] === target)) {
        ctx.addIssue({ code: 'custom', path: ['proxy', 'aliases', alias], message: `"${target}" is not an allowed or configured upstream or group` });
      }
    }
    config.proxy.sync.forEach((entry, i) => {
      const which = `[[proxy.sync]] entry ${i + 1} (upstream "${entry.upstream}")`;
      if (!isSource(entry.upstream) && !(entry.upstream in aliases)) {
        ctx.addIssue({ code: 'custom', path: ['proxy', 'sync', i, 'upstream'], message: `${which}: "${entry.upstream}" is not an allowed or configured upstream, group or alias` });
      }
      try {
        new RegExp(`^(?:${entry.tags})$`);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['proxy', 'sync', i, 'tags'], message: `${which}: tags ${JSON.stringify(entry.tags)} is not a regular expression (${(err as Error).message})` });
      }
      if (entry.semver !== undefined && semver.validRange(entry.semver) === null) {
        ctx.addIssue({ code: 'custom', path: ['proxy', 'sync', i, 'semver'], message: `${which}: semver ${JSON.stringify(entry.semver)} is not a version range (e.g. ">=1.2 <2", "^3.19")` });
      }
    });
    if ((config.s3.access_key_id === '') !== (config.s3.secret_access_key === '')) {
      ctx.addIssue({ code: 'custom', path: ['s3', config.s3.access_key_id === '' ? 'access_key_id' : 'secret_access_key'], message: 's3.access_key_id and s3.secret_access_key go together' });
    }
    const registry = parseStorageLocation(config.registry_storage);
    const proxy = parseStorageLocation(config.proxy_storage);
    if (!('error' in registry) && !('error' in proxy) && overlaps(registry, proxy)) {
      ctx.addIssue({ code: 'custom', path: ['proxy_storage'], message: `shares keys with registry_storage "${config.registry_storage}": give the proxy cache another bucket or a prefix beside it, not inside it` });
    }
    if ((config.tls.cert === '') !== (config.tls.key === '')) {
      ctx.addIssue({ code: 'custom', path: ['tls', config.tls.cert === '' ? 'cert' : 'key'], message: 'tls.cert and tls.key go together' });
    }
    config.auth.access.forEach((rule, i) => {
      rule.users.forEach((user, j) => {
        if (user.startsWith('group:') && !(user.slice(6) in config.auth.groups)) {
          ctx.addIssue({ code: 'custom', path: ['auth', 'access', i, 'users', j], message: `no group "${user.slice(6)}" under [auth.groups]` });
        }
      });
    });
    const mirror = config.mirror.upstream;
    if (mirror !== '' && !isSource(mirror) && !(mirror in aliases)) {
      ctx.addIssue({ code: 'custom', path: ['mirror', 'upstream'], message: `"${mirror}" is not an allowed or configured upstream, group or alias` });
    }
  });

/** Where the registry's and the proxy cache's content live, parsed from registry_storage and proxy_storage (load.ts). */
export interface StorageConfig {
  readonly registry: StorageLocation;
  readonly proxy: StorageLocation;
}

/**
 * `registry_storage` and `proxy_storage` stay strings (an absolute path, or the s3:// URL as
 * written) for the code that reads them as paths; `storage` says which kind each one is.
 * Likewise `database` (an absolute path, or the postgres:// URL as written, password
 * included: log `describeIndex(config.index)` instead) and `index`.
 */
export type Config = z.output<typeof configSchema> & { readonly storage: StorageConfig; readonly index: IndexLocation };
