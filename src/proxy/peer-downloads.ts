/**
 * The holder's side of the peer path: which of this process's downloads another replica may
 * follow, and whether its request is signed (peer-auth.ts). Only downloads in flight here are
 * served; a stored blob is read from the shared store by the asking replica itself.
 */
import type { Digest } from '../primitives/types.js';
import type { BlobDownload } from './blob-download.js';
import type { BlobFetcher } from './blob-fetcher.js';
import { PEER_SIGNATURE_HEADER, type PeerAuth } from './peer-auth.js';

export { PEER_SIGNATURE_HEADER };
export { PEER_SIZE_HEADER } from './peer-relay.js';

export class PeerDownloads {
  constructor(
    private readonly fetcher: BlobFetcher,
    private readonly auth: PeerAuth,
  ) {}

  /** Whether the request carries a current signature of its method and path (with query). */
  authorized(method: string, pathAndQuery: string, signature: string | undefined): Promise<boolean> {
    return this.auth.verify(method, pathAndQuery, signature);
  }

  /** The download of `digest` from `upstream` running here, once it has started; undefined if none is. */
  async running(upstream: string, digest: Digest): Promise<BlobDownload | undefined> {
    const flight = this.fetcher.inFlight(upstream, digest);
    if (flight === undefined) return undefined;
    const download = await flight.catch(() => undefined);
    return download?.state === 'running' ? download : undefined;
  }
}
