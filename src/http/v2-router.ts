/** Dispatches `/v2/...` requests to the route tables by path shape and method (v2-listener.ts calls it). */
import type { Request, Response } from 'express';
import { RegistryError } from '../primitives/errors.js';
import { isProxyName } from '../proxy/proxy-name.js';
import type { Handler, MethodTable, Services } from './handler.js';
import { deferredRefusalOf, isMirrorAware } from './mirror-access.js';
import type { V2Route } from './route-match.js';
import { baseRoutes } from './routes/base.js';
import { blobRoutes } from './routes/blobs.js';
import { catalogRoutes, tagRoutes } from './routes/listings.js';
import { manifestRoutes } from './routes/manifests.js';
import { mirrorTables } from './routes/mirror.js';
import { proxyBlobRoutes, proxyManifestRoutes, proxyNamespace, proxyReferrerRoutes, proxyTagRoutes } from './routes/proxy.js';
import { referrerRoutes } from './routes/referrers.js';
import { uploadRoutes, uploadStartRoutes } from './routes/uploads.js';

/** Local names; reads of manifests, blobs and tags fall back to the mirror upstream on a miss. */
const TABLES: { [K in V2Route['kind']]: MethodTable<K> } = {
  base: baseRoutes,
  catalog: catalogRoutes,
  uploads: uploadStartRoutes,
  upload: uploadRoutes,
  referrers: referrerRoutes,
  ...mirrorTables({ manifest: manifestRoutes, blob: blobRoutes, tags: tagRoutes }),
};

/** Under `proxy/`: reads only. A route missing here is a write, refused as DENIED. */
const PROXY_TABLES: { [K in V2Route['kind']]?: MethodTable<K> } = {
  manifest: proxyManifestRoutes(proxyNamespace),
  blob: proxyBlobRoutes(proxyNamespace),
  tags: proxyTagRoutes(proxyNamespace),
  referrers: proxyReferrerRoutes(proxyNamespace),
};

function tableFor(route: V2Route): MethodTable<V2Route['kind']> | undefined {
  if ('name' in route && isProxyName(route.name)) return PROXY_TABLES[route.kind] as MethodTable<V2Route['kind']> | undefined;
  return TABLES[route.kind] as MethodTable<V2Route['kind']>;
}

/** Answers a request whose path names `route`; what it refuses it throws, at once or through the promise (the error handler answers). */
export type V2Dispatch = (req: Request, res: Response, route: V2Route) => Promise<void>;

export function v2Dispatch(services: Services): V2Dispatch {
  // Not async: the handler's own promise is handed back, one promise and one hop less per request.
  return (req, res, route) => {
    const table = tableFor(route);
    const handler = table?.[req.method as keyof MethodTable<V2Route['kind']>] as Handler<typeof route.kind> | undefined;
    // A refusal authenticate.ts left to the mirror is given at once unless a mirror-aware handler takes it.
    const refusal = deferredRefusalOf(res);
    if (refusal && !(handler && isMirrorAware(handler))) throw refusal();
    if (!table || (!handler && 'name' in route && isProxyName(route.name) && req.method !== 'GET' && req.method !== 'HEAD')) {
      throw new RegistryError('DENIED', 'proxy/ is a read-only pull-through cache: push, mount and delete under a name outside proxy/', {
        name: 'name' in route ? route.name.slice(0, 300) : undefined,
      });
    }
    if (!handler) {
      res.set('Allow', Object.keys(table).join(', '));
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on this endpoint`, { method: req.method });
    }
    return handler(req, res, route as never, services);
  };
}
