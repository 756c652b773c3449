/**
 * Mirror mode for local names: GET/HEAD of manifests, GET of blobs, and tags/list, are
 * answered locally first; a miss (unknown manifest, blob or repository) is answered through
 * the pull-through cache when the mirror policy names an upstream for the request.
 * HEAD of a blob is never mirrored: it is how a pushing client asks whether the local
 * repository already has a layer, and a mirrored "yes" would make it skip the upload.
 * With auth on, a mirrored read serves `proxy/<upstream>/<name>` (the upstream from `?ns=`
 * or `[mirror] upstream`), so the caller needs pull on that name too, by the access rules,
 * besides pull on the local name that authenticate.ts checked; without it the mirror does
 * not apply to the caller, and the local answer stands (the upstream is not asked).
 * A caller refused pull on the local name (an anonymous Docker daemon's registry-mirrors
 * pull, typically) is served nothing local: a local repository of that name is refused to it
 * outright (so a private image is never replaced by an upstream one of the same name), and
 * otherwise the mirror answers if the rules let it pull the proxied name; every other outcome
 * is the refusal authenticate.ts deferred (mirror-access.ts). What such a caller can tell
 * apart is a refusal from a mirrored answer: for a name the upstream has, that says whether
 * a local repository of the name exists. Nothing else local shows (not its tags or blobs).
 */
import type { Request, Response } from 'express';
import type { Handler, MethodTable, RouteOf, Services } from '../handler.js';
import { queryString, repoName } from '../request.js';
import { RegistryError, type ErrorCode } from '../../primitives/errors.js';
import { clearResultHeaders } from '../result-headers.js';
import { PROXY_PREFIX } from '../../proxy/proxy-name.js';
import { pullPolicyOf } from '../pull-policy.js';
import { deferredRefusalOf, markMirrorAware, MIRRORED_METHODS, type Refusal } from '../mirror-access.js';
import { proxyBlobRoutes, proxyManifestRoutes, proxyTagRoutes, type NameOf } from './proxy.js';

const MISSES: ReadonlySet<ErrorCode> = new Set(['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN']);

class NotMirrored extends Error {}

const mirroredName: NameOf = (req, res, route, { mirror }) => {
  const name = mirror.proxiedName(repoName(route.name), queryString(req, 'ns'));
  if (!name) throw new NotMirrored();
  const mayPull = pullPolicyOf(res);
  if (mayPull && !mayPull(`${PROXY_PREFIX}${name.upstream}/${name.repo}`)) throw new NotMirrored();
  return name;
};

type Kind = 'manifest' | 'blob' | 'tags';

const nameOfRoute = (route: RouteOf<Kind>): string => route.name;

/** Serves a caller that may not pull the local name: the mirror or the refusal, nothing local. */
async function mirroredOnly<K extends Kind>(refusal: Refusal, mirrored: Handler<K>, req: Request, res: Response, route: RouteOf<K>, services: Services): Promise<void> {
  let local: boolean;
  try {
    local = await services.registry.listings.exists(repoName(nameOfRoute(route)));
  } catch {
    // Not a valid name: refused as it would have been before the mirror was considered.
    throw refusal();
  }
  if (local) throw refusal();
  try {
    await mirrored(req, res, route, services);
  } catch (err) {
    if (res.headersSent) throw err;
    if (err instanceof NotMirrored || (err instanceof RegistryError && MISSES.has(err.code))) {
      clearResultHeaders(res);
      throw refusal();
    }
    throw err;
  }
}

function withFallback<K extends Kind>(local: Handler<K>, mirrored: Handler<K>): Handler<K> {
  return async (req, res, route, services) => {
    const refusal = deferredRefusalOf(res);
    if (refusal) {
      await mirroredOnly(refusal, mirrored, req, res, route, services);
      return;
    }
    try {
      await local(req, res, route, services);
    } catch (err) {
      if (!(err instanceof RegistryError) || !MISSES.has(err.code) || res.headersSent) throw err;
      // The local handler may have set its blob's headers before the file turned out missing.
      clearResultHeaders(res);
      try {
        await mirrored(req, res, route, services);
      } catch (mirrorErr) {
        // Not mirrored, or the upstream has nothing either: the local answer stands.
        if (mirrorErr instanceof NotMirrored) throw err;
        if (mirrorErr instanceof RegistryError && MISSES.has(mirrorErr.code)) throw err;
        throw mirrorErr;
      }
    }
  };
}

function fallbackTable<K extends Kind>(local: MethodTable<K>, mirrored: MethodTable<K>, methods: ReadonlyArray<'GET' | 'HEAD'>): MethodTable<K> {
  const table: MethodTable<K> = { ...local };
  for (const method of methods) {
    const handler = local[method];
    const fallback = mirrored[method];
    if (handler && fallback) table[method] = markMirrorAware(withFallback(handler, fallback));
  }
  return table;
}

export function mirrorTables(local: { manifest: MethodTable<'manifest'>; blob: MethodTable<'blob'>; tags: MethodTable<'tags'> }): {
  manifest: MethodTable<'manifest'>;
  blob: MethodTable<'blob'>;
  tags: MethodTable<'tags'>;
} {
  return {
    manifest: fallbackTable(local.manifest, proxyManifestRoutes(mirroredName), MIRRORED_METHODS.manifest),
    blob: fallbackTable(local.blob, proxyBlobRoutes(mirroredName), MIRRORED_METHODS.blob),
    tags: fallbackTable(local.tags, proxyTagRoutes(mirroredName), MIRRORED_METHODS.tags),
  };
}

