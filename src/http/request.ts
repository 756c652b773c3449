/** Reading what a V2 request says: query values, body presence and lengths, validated names. */
import type { Request } from 'express';
import { RegistryError } from '../primitives/errors.js';
import { isDigestLike, isTag, parseDigest, parseReference, parseRepoName, type Digest, type Reference, type RepoName } from '../primitives/types.js';
import type { PageRequest } from '../registry/listing-service.js';
import { decodeSegment } from './route-match.js';

/** The first value of a query parameter, if it is a string. */
export function queryString(req: Request, name: string): string | undefined {
  const value: unknown = (req.query as Record<string, unknown>)[name];
  const first = Array.isArray(value) ? (value[0] as unknown) : value;
  return typeof first === 'string' ? first : undefined;
}

export function contentLength(req: Request): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined) return undefined;
  const n = Number(header);
  if (!/^\d+$/.test(header) || !Number.isSafeInteger(n)) {
    throw new RegistryError('SIZE_INVALID', 'invalid Content-Length', { 'content-length': header.slice(0, 40) });
  }
  return n;
}

/** Whether the request carries body bytes (a declared non-zero length, or chunked encoding). */
export function hasBody(req: Request): boolean {
  const length = contentLength(req);
  return length !== undefined ? length > 0 : req.headers['transfer-encoding'] !== undefined;
}

export function repoName(raw: string): RepoName {
  return parseRepoName(raw);
}

export function digestParam(raw: string): Digest {
  const decoded = decodeSegment(raw);
  if (decoded === undefined) throw new RegistryError('DIGEST_INVALID', 'invalid digest', { digest: raw.slice(0, 200) });
  return parseDigest(decoded);
}

/** A manifest reference to store under (PUT): an invalid tag is MANIFEST_INVALID. */
export function referenceParam(raw: string): Reference {
  const decoded = decodeSegment(raw);
  if (decoded === undefined) throw new RegistryError('MANIFEST_INVALID', 'invalid reference', { reference: raw.slice(0, 200) });
  return parseReference(decoded);
}

/** A manifest reference to look up (GET, HEAD, DELETE): no manifest has an invalid tag, so it is MANIFEST_UNKNOWN. */
export function lookupReferenceParam(raw: string): Reference {
  const decoded = decodeSegment(raw);
  if (decoded !== undefined && (isDigestLike(decoded) || isTag(decoded))) return parseReference(decoded);
  throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown: not a valid tag or digest', { reference: raw.slice(0, 200) });
}

export function pageRequest(req: Request): PageRequest {
  const n = queryString(req, 'n');
  const last = queryString(req, 'last');
  if (n !== undefined && (!/^\d{1,9}$/.test(n))) {
    throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer', { n: n.slice(0, 20) });
  }
  return { ...(n !== undefined ? { n: Number(n) } : {}), ...(last !== undefined ? { last } : {}) };
}

/** `Link: <...>; rel="next"` for a paginated listing. */
export function nextLink(path: string, n: number | undefined, last: string): string {
  const params = new URLSearchParams();
  if (n !== undefined) params.set('n', String(n));
  params.set('last', last);
  return `<${path}?${params.toString()}>; rel="next"`;
}
