/**
 * The opaque cursor of the repository and tag listings (browse-service.ts, the proxy's
 * proxy-browse.ts): base64url of a small JSON object holding the listing it belongs to (sort,
 * order, search) and the key of the last item shown. A cursor is checked on the way in: a
 * malformed one, or one taken from a listing of another sort, order or search, is a 400 (a
 * key of one order means nothing in another), never a 500.
 */
import { RegistryError } from '../primitives/errors.js';

/** What a cursor belongs to: the request must ask for the same listing. */
export interface CursorListing {
  sort: string;
  order: string;
  q: string;
}

/** The last item's key: its sort value (0 when sorting by name) and its name parts. */
export interface CursorKey {
  value: number;
  names: string[];
}

const MAX_CURSOR = 4096;

export function encodeCursor(listing: CursorListing, key: CursorKey): string {
  return Buffer.from(JSON.stringify({ s: listing.sort, o: listing.order, q: listing.q, v: key.value, k: key.names }), 'utf8').toString('base64url');
}

function invalid(message: string): RegistryError {
  return new RegistryError('UNSUPPORTED', message, { parameter: 'cursor' }, 400);
}

/** The key a cursor holds, with `names` parts; throws a 400 RegistryError for any other cursor. */
export function decodeCursor(cursor: string, listing: CursorListing, names: number): CursorKey {
  if (cursor.length > MAX_CURSOR || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid('cursor is not one this listing returned');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid('cursor is not one this listing returned');
  }
  if (typeof parsed !== 'object' || parsed === null) throw invalid('cursor is not one this listing returned');
  const c = parsed as Record<string, unknown>;
  const k = c.k;
  if (
    typeof c.v !== 'number' ||
    !Number.isSafeInteger(c.v) ||
    !Array.isArray(k) ||
    k.length !== names ||
    !k.every((part): part is string => typeof part === 'string')
  ) {
    throw invalid('cursor is not one this listing returned');
  }
  if (c.s !== listing.sort || c.o !== listing.order || c.q !== listing.q) {
    throw invalid('cursor belongs to a listing of another sort, order or search: start again without it');
  }
  return { value: c.v, names: k };
}
