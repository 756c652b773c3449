/** Dispatches `/v2/...` requests to the route tables by path shape and method. */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RegistryError } from '../registry/errors.js';
import type { Registry } from '../registry/registry.js';
import type { Handler, MethodTable } from './handler.js';
import { matchV2, type V2Route } from './route-match.js';
import { baseRoutes } from './routes/base.js';
import { blobRoutes } from './routes/blobs.js';
import { catalogRoutes, tagRoutes } from './routes/listings.js';
import { manifestRoutes } from './routes/manifests.js';
import { referrerRoutes } from './routes/referrers.js';
import { uploadRoutes, uploadStartRoutes } from './routes/uploads.js';

const TABLES: { [K in V2Route['kind']]: MethodTable<K> } = {
  base: baseRoutes,
  catalog: catalogRoutes,
  tags: tagRoutes,
  manifest: manifestRoutes,
  uploads: uploadStartRoutes,
  upload: uploadRoutes,
  blob: blobRoutes,
  referrers: referrerRoutes,
};

export function v2Router(registry: Registry): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const route = matchV2(req.path);
    if (!route) {
      next();
      return;
    }
    const table = TABLES[route.kind] as MethodTable<typeof route.kind>;
    const handler = table[req.method as keyof typeof table] as Handler<typeof route.kind> | undefined;
    if (!handler) {
      res.set('Allow', Object.keys(table).join(', '));
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on this endpoint`, { method: req.method });
    }
    await handler(req, res, route as never, registry);
  };
}
