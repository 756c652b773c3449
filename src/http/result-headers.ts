/**
 * Headers that describe what a handler meant to send (a representation, an upload's state),
 * not an error: an answer other than the one they were set for must not carry them.
 */
import type { Response } from 'express';

const RESULT_HEADERS = [
  'accept-ranges',
  'cache-control',
  'content-encoding',
  'content-length',
  'content-range',
  'content-type',
  'docker-content-digest',
  'docker-upload-uuid',
  'etag',
  'last-modified',
  'link',
  'location',
  'oci-filters-applied',
  'oci-subject',
  'range',
];

/** Removes the result headers set so far; only meaningful before the headers were sent. */
export function clearResultHeaders(res: Response): void {
  for (const name of RESULT_HEADERS) res.removeHeader(name);
}
