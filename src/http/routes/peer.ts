/**
 * `GET /_keel/peer/v1/downloads/<upstream>/<digest>?from=<offset>`: the internal path other
 * replicas follow a proxy download this one holds on (proxy/peer-relay.ts is the client).
 * Outside /v2 and its user authentication: a replica proves itself with an HMAC signature of
 * the request under the key all replicas share (proxy/peer-auth.ts). Without a current
 * signature the answer is 401 and no byte of a blob; 404 when no such download runs here.
 * The stream ends only after the download was verified and stored here (the last byte is
 * held back as for any client), and breaks off if it fails.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RegistryError } from '../../primitives/errors.js';
import { PEER_SIGNATURE_HEADER, PEER_SIZE_HEADER, type PeerDownloads } from '../../proxy/peer-downloads.js';
import { digestParam } from '../request.js';
import { sendBlob } from './blobs.js';

const PREFIX = '/_keel/peer/';
const DOWNLOAD = /^\/_keel\/peer\/v1\/downloads\/([^/]+)\/([^/]+)$/;

export function peerRoutes(peers: PeerDownloads): RequestHandler {
  const serve = async (req: Request, res: Response): Promise<void> => {
    const signature = req.headers[PEER_SIGNATURE_HEADER];
    if (!(await peers.authorized(req.method, req.originalUrl, typeof signature === 'string' ? signature : undefined))) {
      throw new RegistryError('UNAUTHORIZED', 'the peer path needs a current signature of a replica of this registry');
    }
    const match = DOWNLOAD.exec(req.path);
    if (!match || req.method !== 'GET') throw new RegistryError('UNSUPPORTED', 'no such peer endpoint');
    const upstream = decodeURIComponent(match[1] as string);
    const digest = digestParam(match[2] as string);
    const rawFrom = req.query.from ?? '0';
    const from = typeof rawFrom === 'string' && /^\d{1,15}$/.test(rawFrom) ? Number(rawFrom) : NaN;
    if (!Number.isSafeInteger(from)) throw new RegistryError('SIZE_INVALID', 'from must be a byte offset');
    const download = await peers.running(upstream, digest);
    if (!download) throw new RegistryError('BLOB_UNKNOWN', 'no download of this blob in flight on this replica', { digest });
    if (download.size !== undefined && from > download.size) throw new RegistryError('SIZE_INVALID', 'from is past the end of the blob', { size: download.size });
    res.status(200).set('Content-Type', 'application/octet-stream');
    if (download.size !== undefined) res.set({ 'Content-Length': String(download.size - from), [PEER_SIZE_HEADER]: String(download.size) });
    await sendBlob(res, (dest) => download.sendTo(dest, from));
  };
  return (req: Request, res: Response, next: NextFunction): void => {
    // One string test for every other request: the peer path is rare.
    if (!req.path.startsWith(PREFIX)) {
      next();
      return;
    }
    serve(req, res).catch(next);
  };
}
