/**
 * The first Express layer, for requests outside /v2 (v2-listener.ts answers those without
 * Express): it sets the API version header, starts the request log, and serves the few routes
 * that need no authentication (health, readiness, metrics, token) by path. Every request
 * walks Express's layers, and each layer allocates: in a heap profile of manifest GETs under
 * load, Express's router was 40% of all allocation with six layers in front of /v2; folding
 * these into one cut it.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { RequestLogStart } from './request-log.js';

export interface SideRoute {
  /** Lower-case paths the router serves, without a trailing slash. */
  paths: readonly string[];
  router: RequestHandler;
}

/** What every answer starts with, on either path (Express here, /v2 in v2-listener.ts): the API version header and the request log. */
export function greet(req: Request, res: Response, startLog: RequestLogStart): void {
  res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
  startLog(req, res);
}

export function frontDoor(startLog: RequestLogStart, sideRoutes: readonly SideRoute[]): RequestHandler {
  const byPath = new Map<string, RequestHandler>();
  for (const route of sideRoutes) for (const path of route.paths) byPath.set(path, route.router);
  const longest = Math.max(0, ...[...byPath.keys()].map((p) => p.length)) + 1;
  return (req, res, next) => {
    greet(req, res, startLog);
    const path = req.path;
    // As an Express route matches: case-insensitive, a trailing slash allowed.
    const side = path.length <= longest ? byPath.get(path.toLowerCase().replace(/\/$/, '')) : undefined;
    if (side) {
      side(req, res, next);
      return;
    }
    next();
  };
}
