/**
 * Blob uploads: `POST /v2/<name>/blobs/uploads/` (start, monolithic with ?digest=, or
 * ?mount=&from=) and `/v2/<name>/blobs/uploads/<id>`: PATCH (chunk), PUT (finish),
 * GET (status), DELETE (cancel).
 */
import type { Request, Response } from 'express';
import type { Principal } from '../../auth/auth-service.js';
import type { MethodTable } from '../handler.js';
import { parseContentRange } from '../negotiate.js';
import { contentLength, digestParam, hasBody, queryString, repoName } from '../request.js';
import { RegistryError } from '../../primitives/errors.js';
import type { ChunkInfo } from '../../registry/upload-service.js';
import { parseRepoName, type Digest, type RepoName } from '../../primitives/types.js';

function uploadLocation(repo: RepoName, id: string): string {
  return `/v2/${repo}/blobs/uploads/${id}`;
}

/** Distribution's convention: `0-<last byte>`, and `0-0` for an empty upload. */
function rangeHeader(offset: number): string {
  return `0-${offset > 0 ? offset - 1 : 0}`;
}

function accepted(res: Response, repo: RepoName, id: string, offset: number): void {
  res
    .status(202)
    .set({ Location: uploadLocation(repo, id), 'Docker-Upload-UUID': id, Range: rangeHeader(offset), 'Content-Length': '0' })
    .end();
}

function created(res: Response, repo: RepoName, digest: Digest): void {
  res.status(201).set({ Location: `/v2/${repo}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' }).end();
}

function chunkInfo(req: Request): ChunkInfo {
  const range = parseContentRange(req.headers['content-range']);
  if (range === 'invalid') {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'invalid Content-Range; expected <start>-<end>', undefined, 416);
  }
  const length = contentLength(req);
  return { ...(range ? { range } : {}), ...(length !== undefined ? { length } : {}) };
}

function digestQuery(req: Request): Digest {
  const raw = queryString(req, 'digest');
  if (raw === undefined) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to finish an upload');
  return digestParam(raw);
}

export const uploadStartRoutes: MethodTable<'uploads'> = {
  POST: async (req, res, route, { registry }) => {
    const repo = repoName(route.name);
    const mount = queryString(req, 'mount');
    const from = queryString(req, 'from');
    // With auth on, a mount needs pull on the source repository too; otherwise it is a normal upload.
    const principal = res.locals.principal as Principal | undefined;
    if (mount !== undefined && from !== undefined && (principal === undefined || principal.allows(from, 'pull'))) {
      const digest = digestParam(mount);
      if (await registry.uploads.mount(repo, digest, parseRepoName(from))) {
        created(res, repo, digest);
        return;
      }
    }
    if (queryString(req, 'digest') !== undefined) {
      const digest = digestQuery(req);
      await registry.uploads.putMonolithic(repo, digest, req, chunkInfo(req));
      created(res, repo, digest);
      return;
    }
    const id = await registry.uploads.start(repo);
    accepted(res, repo, id, 0);
  },
};

export const uploadRoutes: MethodTable<'upload'> = {
  GET: async (_req, res, route, { registry }) => {
    const repo = repoName(route.name);
    const offset = await registry.uploads.offset(repo, route.id);
    res
      .status(204)
      .set({ Location: uploadLocation(repo, route.id), 'Docker-Upload-UUID': route.id, Range: rangeHeader(offset) })
      .end();
  },

  PATCH: async (req, res, route, { registry }) => {
    const repo = repoName(route.name);
    const offset = await registry.uploads.append(repo, route.id, req, chunkInfo(req));
    accepted(res, repo, route.id, offset);
  },

  PUT: async (req, res, route, { registry }) => {
    const repo = repoName(route.name);
    const digest = digestQuery(req);
    await registry.uploads.finish(repo, route.id, digest, hasBody(req) ? req : undefined, chunkInfo(req));
    created(res, repo, digest);
  },

  DELETE: async (_req, res, route, { registry }) => {
    const repo = repoName(route.name);
    await registry.uploads.cancel(repo, route.id);
    res.status(204).end();
  },
};
