/**
 * The on-disk layout, documented once, where every path is built.
 *
 *   <registry_storage>/blobs/<algorithm>/<first two hex>/<hex>   blob and manifest content, by digest
 *   <proxy_storage>/blobs/<algorithm>/<first two hex>/<hex>      the same layout for the pull-through cache
 *   <temporary_registry_storage>/uploads/<upload id>             bytes of an upload session in progress
 *   <temporary_registry_storage>/ingest/<random>                 other writes before they are renamed into place
 *   <database>                                                   the SQLite index (WAL mode: also -wal and -shm)
 *
 * Content files are written in the temporary root, fsynced and renamed into place, so the
 * temporary root should be on the same filesystem as the stores (a copy is made otherwise).
 */
import { join } from 'node:path';
import { digestAlgorithm, digestHex, type Digest } from '../../primitives/types.js';

/** `<root>/blobs` by root, normalised once: join() normalises every segment, on every blob HEAD and GET. */
const blobRoots = new Map<string, string>();

export function blobPath(root: string, digest: Digest): string {
  let blobs = blobRoots.get(root);
  if (blobs === undefined) {
    blobs = join(root, 'blobs');
    blobRoots.set(root, blobs);
  }
  const hex = digestHex(digest);
  // The algorithm and hex of a parsed digest need no normalising: the same path join() gives.
  return `${blobs}/${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}`;
}

export function uploadsDir(tempRoot: string): string {
  return join(tempRoot, 'uploads');
}

export function uploadPath(tempRoot: string, id: string): string {
  return join(tempRoot, 'uploads', id);
}

export function ingestDir(tempRoot: string): string {
  return join(tempRoot, 'ingest');
}
