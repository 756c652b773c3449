/**
 * Stored content checked against the index before a client is answered: a file that is
 * gone or of another length than recorded is reported (logged loudly, counted) and the blob
 * answers BLOB_UNKNOWN, as if it were not stored, rather than promising bytes it cannot send.
 */
import type { Writable } from 'node:stream';
import type { BlobProvider, BlobStatter, ByteRange } from '../storage/blob-store.js';
import { ContentIntegrityError } from '../storage/storage-errors.js';
import { RegistryError } from '../primitives/errors.js';
import type { Digest } from '../primitives/types.js';

/** Hears every file found to disagree with the index. */
export type IntegrityReporter = (failure: ContentIntegrityError) => void;

export const ignoreIntegrityFailures: IntegrityReporter = () => undefined;

function blobUnknown(digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
}

/** Throws BLOB_UNKNOWN (after reporting) unless the file of `digest` has the recorded `size`. */
export async function verifyContent(content: BlobStatter, digest: Digest, size: number, report: IntegrityReporter): Promise<void> {
  try {
    await content.verify(digest, size);
  } catch (err) {
    if (!(err instanceof ContentIntegrityError)) throw err;
    report(err);
    throw blobUnknown(digest);
  }
}

/** Sends the content of `digest` (recorded as `size` bytes); BLOB_UNKNOWN (after reporting) when the file disagrees. */
export async function sendContent(content: BlobProvider, digest: Digest, dest: Writable, size: number, range: ByteRange | undefined, report: IntegrityReporter): Promise<void> {
  try {
    await content.send(digest, dest, size, range);
  } catch (err) {
    if (!(err instanceof ContentIntegrityError)) throw err;
    report(err);
    throw blobUnknown(digest);
  }
}
