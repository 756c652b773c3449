/**
 * The server's and the proxy's state for the UI and for scripts:
 *   GET /api/v1/status              → version, replica, uptime, bytes per store, the last GC run
 *   GET /api/v1/upstreams           → {"upstreams": [...]}: each upstream and group, its settings
 *                                     (never credentials), its members' health and this process's
 *                                     cache hits and misses (proxy/upstream-status.ts)
 *   GET /api/v1/upstreams/<name>    → one of them, by its name or an alias; 404 NAME_UNKNOWN
 * With auth on, any signed-in user may read them (they name no repository); anonymous callers
 * get 401 with the Basic challenge.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RegistryError } from '../../primitives/errors.js';
import type { ProxyUpstreamTotals } from '../../proxy/proxy-browse.js';
import type { UpstreamReport, UpstreamStatus } from '../../proxy/upstream-status.js';
import type { StatusReport } from '../../server-status.js';
import { identify, type ApiAuth } from '../api-access.js';

export interface StatusRouterDeps {
  status: { report(): Promise<StatusReport> };
  upstreams: UpstreamStatus;
  /** What the cache holds per upstream (proxy/proxy-browse.ts); without it, `cached` is left out. */
  cached?: () => Promise<ProxyUpstreamTotals[]>;
  /** Present when authentication is on. */
  auth?: ApiAuth;
}

const STATUS = /^\/api\/v1\/status\/?$/;
const UPSTREAMS = /^\/api\/v1\/upstreams(?:\/([^/]+))?\/?$/;

/** Times as ISO strings, durations in seconds: what a script reads without knowing Keel's units. */
function upstreamJson(r: UpstreamReport, totals: ReadonlyMap<string, ProxyUpstreamTotals>): object {
  const cached = totals.get(r.name);
  const at = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
  return {
    name: r.name,
    kind: r.kind,
    configured: r.configured,
    aliases: r.aliases,
    tag_ttl_seconds: Math.round(r.tagTtlMs / 1000),
    members: r.members.map((m) => ({
      name: m.name,
      url: m.url,
      signs_in: m.signsIn,
      backed_off_until: at(m.backedOffUntil),
      last_failure: m.lastFailure ? { at: at(m.lastFailure.at), message: m.lastFailure.message } : undefined,
      last_success: at(m.lastSuccessAt),
    })),
    hits: { manifests: r.counts.manifestHits, blobs: r.counts.blobHits },
    misses: { manifests: r.counts.manifestMisses, blobs: r.counts.blobMisses },
    cached: { repositories: cached?.repositories ?? 0, manifests: cached?.manifests ?? 0, blobs: cached?.blobs ?? 0, bytes: cached?.bytes ?? 0 },
  };
}

export function statusRouter(deps: StatusRouterDeps): RequestHandler {
  const { status, upstreams, auth } = deps;
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const isStatus = STATUS.test(req.path);
    const upstream = UPSTREAMS.exec(req.path);
    if (!isStatus && !upstream) {
      next();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('Allow', 'GET, HEAD');
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on this endpoint`, { method: req.method });
    }
    if (auth) {
      const caller = await identify(req, res, auth, undefined);
      if (caller.principal.user === undefined) {
        res.set('WWW-Authenticate', `Basic realm="${auth.options.service}"`);
        throw new RegistryError('UNAUTHORIZED', 'a signed-in user is needed');
      }
      res.locals.user = caller.principal.user;
    }
    res.set('Cache-Control', 'no-store');
    if (isStatus) {
      res.json(await status.report());
      return;
    }
    const totals = new Map((await (deps.cached?.() ?? Promise.resolve([]))).map((t) => [t.upstream, t]));
    const name = upstream?.[1];
    if (name === undefined) {
      res.json({ upstreams: upstreams.list().map((r) => upstreamJson(r, totals)) });
      return;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      throw new RegistryError('UNSUPPORTED', 'the upstream name is not valid percent-encoding', undefined, 400);
    }
    const one = upstreams.get(decoded);
    if (one === undefined) throw new RegistryError('NAME_UNKNOWN', `no upstream or group "${decoded.slice(0, 200)}"`, undefined, 404);
    res.json(upstreamJson(one, totals));
  };
}
