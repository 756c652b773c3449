/** Content negotiation for manifests (Accept) and byte ranges for blobs (Range). */
import type { ByteRange } from '../storage/blob-store.js';

const WILDCARDS = new Set(['*/*', 'application/*', 'application/json']);

/** True when the Accept header lets the client receive `mediaType`; no Accept at all accepts anything. */
export function accepts(accept: string | undefined, mediaType: string): boolean {
  if (!accept) return true;
  // Read in place (every manifest GET): no arrays of parts, as split/map/filter built.
  let named = false;
  for (let start = 0; start <= accept.length; ) {
    const comma = accept.indexOf(',', start);
    const end = comma === -1 ? accept.length : comma;
    const semicolon = accept.indexOf(';', start);
    const type = accept.slice(start, semicolon !== -1 && semicolon < end ? semicolon : end).trim().toLowerCase();
    if (type !== '') {
      if (type === mediaType || WILDCARDS.has(type)) return true;
      named = true;
    }
    start = end + 1;
  }
  return !named;
}

/**
 * Parses a single `bytes=` range against a size. undefined: no (usable) Range, serve all;
 * 'unsatisfiable': 416. Several ranges are answered with the whole content, as RFC 9110 allows.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, first, last] = m as unknown as [string, string, string];
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Parses an upload chunk's Content-Range (`<start>-<end>`, inclusive). */
export function parseContentRange(header: string | undefined): { start: number; end: number } | 'invalid' | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) return 'invalid';
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return 'invalid';
  return { start, end };
}
