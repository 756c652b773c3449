/**
 * Validation of the merged raw settings (defaults ← TOML ← environment) into the typed,
 * frozen Config the rest of Keel receives. Unknown keys and wrong types are errors that
 * name the key.
 */
import { z } from 'zod';
import { DEFAULTS } from './defaults.js';
import { parseDuration, parseSize } from './units.js';

const DEFAULT_ALIASES: Record<string, string> = DEFAULTS.proxy.aliases;

const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const bytes = parseSize(v);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as "4MiB" or a number of bytes, got ${JSON.stringify(v)}` });
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

export const configSchema = z
  .object({
    listen,
    registry_storage: path,
    temporary_registry_storage: path,
    proxy_storage: path,
    database: path,
    limits: z
      .object({
        max_manifest_size: size,
        max_list_page: z.number().int().positive(),
        manifest_cache_size: size,
        max_blob_size: size,
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
    proxy: z
      .object({
        allow: z.array(z.string().regex(UPSTREAM_NAME, 'expected a lower-case host name')),
        tag_ttl: duration,
        timeout: duration,
        backoff: duration,
        upstreams: z.record(upstreamName, upstream),
        groups: z.record(upstreamName, group),
        aliases: z.record(upstreamName, upstreamName),
      })
      .strict(),
    auth: z
      .object({
        htpasswd: z.string(),
        realm: z.string(),
        service: z.string().min(1),
        issuer: z.string().min(1),
        token_ttl: duration,
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

export type Config = z.output<typeof configSchema>;
