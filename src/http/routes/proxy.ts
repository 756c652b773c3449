/**
 * Reads through the pull-through cache: manifests and blobs (GET, HEAD), tags/list and
 * referrers. Used for names under `proxy/<upstream>/<repository>` (anything that would write
 * there is refused in v2-router.ts: the namespace is a cache), and in mirror mode for local
 * misses, with the proxied name given by `nameOf`.
 */
import type { Request, Response } from 'express';
import type { MethodTable, RouteOf } from '../handler.js';
import { parseRange } from '../negotiate.js';
import { digestParam, nextLink, pageRequest, queryString, lookupReferenceParam, repoName } from '../request.js';
import { blobHeaders, sendBlob } from './blobs.js';
import { manifestHeaders, negotiate } from './manifests.js';
import { RegistryError } from '../../primitives/errors.js';
import { OCI_INDEX } from '../../primitives/media-types.js';
import { parseProxyName, type ProxyName } from '../../proxy/proxy-name.js';
import type { Services } from '../handler.js';

/** How a handler learns the proxied name: from `proxy/...`, or from the mirror policy. */
export type NameOf = (req: Request, res: Response, route: RouteOf<'manifest' | 'blob' | 'tags' | 'referrers'>, services: Services) => ProxyName;

export const proxyNamespace: NameOf = (_req, _res, route) => parseProxyName(repoName(route.name));

/** The proxied name of a request; the upstream it names goes into the request's log line. */
function proxied(nameOf: NameOf, req: Request, res: Response, route: RouteOf<'manifest' | 'blob' | 'tags' | 'referrers'>, services: Services): ProxyName {
  const name = nameOf(req, res, route, services);
  res.locals.upstream = name.upstream;
  return name;
}

export const proxyManifestRoutes = (nameOf: NameOf): MethodTable<'manifest'> => ({
  GET: async (req, res, route, services) => {
    const { record, bytes } = await services.proxy.manifest(proxied(nameOf, req, res, route, services), lookupReferenceParam(route.reference));
    negotiate(req, record);
    manifestHeaders(res, record);
    res.status(200).end(bytes);
  },
  HEAD: async (req, res, route, services) => {
    const { record } = await services.proxy.manifest(proxied(nameOf, req, res, route, services), lookupReferenceParam(route.reference));
    negotiate(req, record);
    manifestHeaders(res, record);
    res.status(200).end();
  },
});

export const proxyBlobRoutes = (nameOf: NameOf): MethodTable<'blob'> => ({
  HEAD: async (req, res, route, services) => {
    const digest = digestParam(route.digest);
    const size = await services.proxy.blobSize(proxied(nameOf, req, res, route, services), digest);
    blobHeaders(res, digest);
    res.status(200).set('Content-Length', String(size)).end();
  },
  GET: async (req, res, route, services) => {
    const digest = digestParam(route.digest);
    let blob = await services.proxy.blob(proxied(nameOf, req, res, route, services), digest);
    // A range of a download in progress would be bytes nobody has verified yet (only a read to
    // the end is held back until the digest matches): ranges wait for the stored blob, and a
    // download that fails gets its OCI error before any header is sent. Full reads stream.
    if (req.headers.range !== undefined) blob = await blob.stored(res);
    // A cache hit this repository may read can be fetched from the object store itself;
    // the 307 carries no bytes, so Range goes to the presigned URL unchanged.
    const location = await blob.redirectUrl?.();
    if (location !== undefined) {
      res.status(307).set({ Location: location, 'Docker-Content-Digest': digest, 'Content-Length': '0' }).end();
      return;
    }
    const range = blob.size === undefined ? undefined : parseRange(req.headers.range, blob.size);
    if (range === 'unsatisfiable') {
      throw new RegistryError('SIZE_INVALID', 'requested range is not satisfiable', { size: blob.size }, 416, { 'Content-Range': `bytes */${blob.size}` });
    }
    // Admitted before any header is set: a 503 from the gate carries none of the blob's.
    const release = await services.blobStreams.enter(res);
    try {
      blobHeaders(res, digest);
      if (range) {
        res.status(206).set({ 'Content-Range': `bytes ${range.start}-${range.end}/${blob.size}`, 'Content-Length': String(range.end - range.start + 1) });
      } else {
        res.status(200);
        if (blob.size !== undefined) res.set('Content-Length', String(blob.size));
      }
      await sendBlob(res, (dest) => blob.send(dest, range));
    } finally {
      release();
    }
  },
});

export const proxyTagRoutes = (nameOf: NameOf): MethodTable<'tags'> => ({
  GET: async (req, res, route, services) => {
    const name = proxied(nameOf, req, res, route, services);
    const page = pageRequest(req);
    const params = new URLSearchParams();
    if (page.n !== undefined) params.set('n', String(page.n));
    if (page.last !== undefined) params.set('last', page.last);
    const query = params.size > 0 ? `?${params.toString()}` : '';
    const { tags, link } = await services.proxy.tags(name, query);
    if (link) res.set('Link', link);
    else if (page.n !== undefined && tags.length >= page.n && tags.length > 0) res.set('Link', nextLink(`/v2/${name.full}/tags/list`, page.n, tags[tags.length - 1] as string));
    res.status(200).json({ name: name.full, tags });
  },
});

export const proxyReferrerRoutes = (nameOf: NameOf): MethodTable<'referrers'> => ({
  GET: async (req, res, route, services) => {
    const artifactType = queryString(req, 'artifactType');
    const bytes = await services.proxy.referrers(proxied(nameOf, req, res, route, services), digestParam(route.digest), artifactType);
    let manifests: Array<{ artifactType?: unknown }> = [];
    if (bytes) {
      try {
        const parsed = JSON.parse(bytes.toString('utf8')) as { manifests?: unknown };
        if (Array.isArray(parsed.manifests)) manifests = parsed.manifests as Array<{ artifactType?: unknown }>;
      } catch {
        throw new RegistryError('UNAVAILABLE', 'upstream sent an invalid referrers index', undefined, 502);
      }
    }
    if (artifactType !== undefined) {
      manifests = manifests.filter((m) => m.artifactType === artifactType);
      res.set('OCI-Filters-Applied', 'artifactType');
    }
    res.status(200).set('Content-Type', OCI_INDEX).end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
  },
});
