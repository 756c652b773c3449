/** `/v2/<name>/manifests/<reference>`: GET, HEAD, PUT, DELETE by tag or digest. */
import type { Request, Response } from 'express';
import type { MethodTable } from '../handler.js';
import { accepts } from '../negotiate.js';
import { lookupReferenceParam, referenceParam, repoName } from '../request.js';
import { RegistryError } from '../../primitives/errors.js';
import type { ManifestRecord } from '../../storage/registry-index.js';

// Hot paths (every pull): headers are set with Node's setHeader, not Express's res.set,
// which parses each call's arguments and was a visible share of CPU under load.
export function manifestHeaders(res: Response, record: Pick<ManifestRecord, 'digest' | 'mediaType' | 'size'>): void {
  res.setHeader('Content-Type', record.mediaType);
  res.setHeader('Content-Length', record.size);
  res.setHeader('Docker-Content-Digest', record.digest);
  res.setHeader('ETag', `"${record.digest}"`);
}

export function negotiate(req: Request, record: Pick<ManifestRecord, 'mediaType'>): void {
  if (!accepts(req.headers.accept, record.mediaType)) {
    throw new RegistryError('MANIFEST_UNKNOWN', `manifest is ${record.mediaType}, which the request's Accept header does not allow`, {
      mediaType: record.mediaType,
    }, 404);
  }
}

export const manifestRoutes: MethodTable<'manifest'> = {
  HEAD: async (req, res, route, { registry }) => {
    const record = await registry.manifests.stat(repoName(route.name), lookupReferenceParam(route.reference));
    negotiate(req, record);
    manifestHeaders(res, record);
    res.statusCode = 200;
    res.end();
  },

  GET: async (req, res, route, { registry }) => {
    const { record, bytes } = await registry.manifests.get(repoName(route.name), lookupReferenceParam(route.reference));
    negotiate(req, record);
    manifestHeaders(res, record);
    res.statusCode = 200;
    res.end(bytes);
  },

  PUT: async (req, res, route, { registry }) => {
    const repo = repoName(route.name);
    const { digest, subject } = await registry.manifests.put(repo, referenceParam(route.reference), req.headers['content-type'], req);
    res.status(201).set({ Location: `/v2/${repo}/manifests/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' });
    if (subject) res.set('OCI-Subject', subject);
    res.end();
  },

  DELETE: async (_req, res, route, { registry }) => {
    await registry.manifests.delete(repoName(route.name), lookupReferenceParam(route.reference));
    res.status(202).set('Content-Length', '0').end();
  },
};
