/**
 * Cache warming over HTTP (what `scripts/warm` calls):
 *   POST /api/v1/warm   {"references": ["proxy/<upstream>/<repo>:<tag>", ...],
 *                        "platforms": ["linux/amd64", ...], "dry_run": false,
 *                        "pin": false, "unpin": false}
 *     pin: pin each image once warm (GC's retention never evicts it); unpin: only remove the
 *     pins of the references named, fetching nothing.
 *   → 200, application/x-ndjson: one JSON object per line as the work goes ("image" when an
 *     image's manifests are read, "blob" per config or layer, "failed" per image that could
 *     not be warmed), {"event":"working"} after 10 s without another line (a long layer), then
 *     a last line {"event":"summary", ...} with the totals.
 * The body is checked whole before anything is fetched (400 UNSUPPORTED, 403 DENIED for a
 * name outside proxy/). With auth on, the caller must be a signed-in user allowed to pull
 * every repository named. A client that disconnects stops the run before its next blob
 * (downloads already started finish: a live pull may share them).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { RegistryError } from '../../primitives/errors.js';
import { parsePlatform } from '../../primitives/platform.js';
import { readCapped } from '../../primitives/read-capped.js';
import { Warmer } from '../../proxy/warm.js';
import { authorize, identify, type ApiAuth } from '../api-access.js';

export interface WarmRouterDeps {
  warmer: Warmer;
  /** Present when authentication is on. */
  auth?: ApiAuth;
}

const PATH = /^\/api\/v1\/warm\/?$/;
/** A request names references, not content: 1 MiB of them is thousands of images. */
const MAX_BODY = 1 << 20;
const MAX_REFERENCES = 10_000;
/**
 * A line at least this often while nothing else is said (a multi-gigabyte layer takes
 * minutes): clients and proxies drop a response that is silent for long (fetch after 300 s).
 */
export const WARM_HEARTBEAT_MS = 10_000;

const body = z
  .object({
    references: z.array(z.string().min(1).max(1000)).min(1).max(MAX_REFERENCES),
    platforms: z.array(z.string().max(100)).max(100).default([]),
    dry_run: z.boolean().default(false),
    pin: z.boolean().default(false),
    unpin: z.boolean().default(false),
  })
  .strict()
  .refine((b) => !(b.pin && b.unpin), { message: 'pin and unpin exclude each other', path: ['unpin'] });

function badRequest(message: string, detail?: unknown): RegistryError {
  return new RegistryError('UNSUPPORTED', message, detail, 400);
}

async function readBody(req: Request): Promise<z.infer<typeof body>> {
  const bytes = await readCapped(req, MAX_BODY, (max) => new RegistryError('SIZE_INVALID', `the request body is larger than ${max} bytes`, { limit: max }, 413));
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw badRequest('the request body is not JSON: {"references": ["proxy/<upstream>/<repository>:<tag>"]}');
  }
  const parsed = body.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badRequest(`invalid warm request: ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export function warmRouter(deps: WarmRouterDeps): RequestHandler {
  const { warmer, auth } = deps;
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (!PATH.test(req.path)) {
      next();
      return;
    }
    if (req.method !== 'POST') {
      res.set('Allow', 'POST');
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on this endpoint`, { method: req.method });
    }
    const caller = auth ? await identify(req, res, auth, undefined) : undefined;
    if (auth && caller && caller.principal.user === undefined) {
      res.set('WWW-Authenticate', `Basic realm="${auth.options.service}"`);
      throw new RegistryError('UNAUTHORIZED', 'warming needs a signed-in user');
    }
    const request = await readBody(req);
    const refs = Warmer.parseReferences(request.references);
    const platforms = request.platforms.map(parsePlatform);
    if (auth && caller) for (const { repo } of refs) authorize(req, res, auth, caller, repo, ['pull']);

    let closed = false;
    res.on('close', () => (closed = true));
    res.status(200).set('Content-Type', 'application/x-ndjson').set('Cache-Control', 'no-store');
    res.flushHeaders();
    let said = Date.now();
    const line = (obj: object): void => {
      said = Date.now();
      if (!closed) res.write(`${JSON.stringify(obj)}\n`);
    };
    const heartbeat = setInterval(() => {
      if (Date.now() - said >= WARM_HEARTBEAT_MS) line({ event: 'working' });
    }, WARM_HEARTBEAT_MS / 2);
    try {
      const summary = await warmer.warm({ references: request.references, platforms, dryRun: request.dry_run, pin: request.pin, unpin: request.unpin }, line, () => closed);
      line({ event: 'summary', ...summary });
    } finally {
      clearInterval(heartbeat);
    }
    res.end();
  };
}
