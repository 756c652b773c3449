/** `/v2/<name>/blobs/<digest>`: GET (with Range), HEAD, DELETE. */
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { Response } from 'express';
import type { MethodTable } from '../handler.js';
import { parseRange } from '../negotiate.js';
import { digestParam, repoName } from '../request.js';
import { RegistryError } from '../../primitives/errors.js';
import type { Digest } from '../../primitives/types.js';

/** Set with Node's setHeader on this hot path (every layer check), as manifestHeaders. */
export function blobHeaders(res: Response, digest: Digest): void {
  res.setHeader('Docker-Content-Digest', digest);
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', `"${digest}"`);
  res.setHeader('Cache-Control', 'max-age=31536000, immutable');
}

/**
 * Sends blob content and ends the response. A file that is gone or disagrees with the index
 * fails (BLOB_UNKNOWN) before anything was written; the error handler then answers without
 * the blob's headers, or aborts the connection if the response had already started.
 */
export async function sendBlob(res: Response, send: (dest: Writable) => Promise<void>): Promise<void> {
  await send(res);
  res.end();
  await finished(res);
}

export const blobRoutes: MethodTable<'blob'> = {
  HEAD: async (_req, res, route, { registry }) => {
    const repo = repoName(route.name);
    const digest = digestParam(route.digest);
    const size = await registry.blobs.storedSize(repo, digest);
    blobHeaders(res, digest);
    res.statusCode = 200;
    res.setHeader('Content-Length', size);
    res.end();
  },

  GET: async (req, res, route, { registry, blobStreams }) => {
    const repo = repoName(route.name);
    const digest = digestParam(route.digest);
    const size = await registry.blobs.stat(repo, digest);
    // A backend that can hand out the bytes itself (a presigned object-store URL) is followed
    // by the client; HEAD and manifests are always answered here.
    const location = await registry.blobs.redirectUrl(digest);
    if (location !== undefined) {
      res.status(307).set({ Location: location, 'Docker-Content-Digest': digest, 'Content-Length': '0' }).end();
      return;
    }
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      throw new RegistryError('SIZE_INVALID', 'requested range is not satisfiable', { size }, 416, { 'Content-Range': `bytes */${size}` });
    }
    // Admitted before any header is set: a 503 from the gate carries none of the blob's.
    const release = await blobStreams.enter(res);
    try {
      blobHeaders(res, digest);
      if (range) {
        res.status(206).set({ 'Content-Range': `bytes ${range.start}-${range.end}/${size}`, 'Content-Length': String(range.end - range.start + 1) });
      } else {
        res.status(200).set('Content-Length', String(size));
      }
      await sendBlob(res, (dest) => registry.blobs.send(digest, dest, size, range));
    } finally {
      release();
    }
  },

  DELETE: async (_req, res, route, { registry }) => {
    const repo = repoName(route.name);
    const digest = digestParam(route.digest);
    await registry.blobs.delete(repo, digest);
    res.status(202).set('Content-Length', '0').end();
  },
};
