/**
 * Reads under `proxy/<upstream>/<repository>`: manifests and blobs (GET, HEAD), tags/list and
 * referrers, served by the pull-through cache. Anything that would write is refused in
 * v2-router.ts: the namespace is a cache.
 */
import { pipeline } from 'node:stream/promises';
import type { MethodTable } from '../handler.js';
import { parseRange } from '../negotiate.js';
import { digestParam, nextLink, pageRequest, queryString, lookupReferenceParam, repoName } from '../request.js';
import { blobHeaders } from './blobs.js';
import { manifestHeaders, negotiate } from './manifests.js';
import { RegistryError } from '../../registry/errors.js';
import { OCI_INDEX } from '../../registry/media-types.js';
import { parseProxyName } from '../../proxy/proxy-name.js';

export const proxyManifestRoutes: MethodTable<'manifest'> = {
  GET: async (req, res, route, { proxy }) => {
    const { record, bytes } = await proxy.manifest(parseProxyName(repoName(route.name)), lookupReferenceParam(route.reference));
    negotiate(req, record);
    manifestHeaders(res, record);
    res.status(200).end(bytes);
  },
  HEAD: async (req, res, route, { proxy }) => {
    const { record } = await proxy.manifest(parseProxyName(repoName(route.name)), lookupReferenceParam(route.reference));
    negotiate(req, record);
    manifestHeaders(res, record);
    res.status(200).end();
  },
};

export const proxyBlobRoutes: MethodTable<'blob'> = {
  HEAD: async (_req, res, route, { proxy }) => {
    const digest = digestParam(route.digest);
    const size = await proxy.blobSize(parseProxyName(repoName(route.name)), digest);
    blobHeaders(res, digest);
    res.status(200).set('Content-Length', String(size)).end();
  },
  GET: async (req, res, route, { proxy }) => {
    const digest = digestParam(route.digest);
    const blob = await proxy.blob(parseProxyName(repoName(route.name)), digest);
    const range = blob.size === undefined ? undefined : parseRange(req.headers.range, blob.size);
    if (range === 'unsatisfiable') {
      res.set('Content-Range', `bytes */${blob.size}`);
      throw new RegistryError('SIZE_INVALID', 'requested range is not satisfiable', { size: blob.size }, 416);
    }
    blobHeaders(res, digest);
    if (range) {
      res.status(206).set({ 'Content-Range': `bytes ${range.start}-${range.end}/${blob.size}`, 'Content-Length': String(range.end - range.start + 1) });
    } else {
      res.status(200);
      if (blob.size !== undefined) res.set('Content-Length', String(blob.size));
    }
    res.flushHeaders();
    await pipeline(blob.open(range), res);
  },
};

export const proxyTagRoutes: MethodTable<'tags'> = {
  GET: async (req, res, route, { proxy }) => {
    const name = parseProxyName(repoName(route.name));
    const page = pageRequest(req);
    const params = new URLSearchParams();
    if (page.n !== undefined) params.set('n', String(page.n));
    if (page.last !== undefined) params.set('last', page.last);
    const query = params.size > 0 ? `?${params.toString()}` : '';
    const { tags, link } = await proxy.tags(name, query);
    if (link) res.set('Link', link);
    else if (page.n !== undefined && tags.length >= page.n && tags.length > 0) res.set('Link', nextLink(`/v2/${name.full}/tags/list`, page.n, tags[tags.length - 1] as string));
    res.status(200).json({ name: name.full, tags });
  },
};

export const proxyReferrerRoutes: MethodTable<'referrers'> = {
  GET: async (req, res, route, { proxy }) => {
    const artifactType = queryString(req, 'artifactType');
    const bytes = await proxy.referrers(parseProxyName(repoName(route.name)), digestParam(route.digest), artifactType);
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
};
