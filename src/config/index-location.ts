/**
 * What `database` names: a SQLite file (a plain path, as always) or a PostgreSQL database
 * (`postgres://user:password@host:5432/db?sslmode=...`, or `postgresql://`). Parsed once
 * here; the rest of Keel switches on `kind` and never looks at the text again. A URL may
 * leave out its host, user, password or database: the pg driver then reads the standard
 * PGHOST, PGUSER, PGPASSWORD, PGDATABASE... environment, as libpq does.
 */

export type IndexLocation =
  | { readonly kind: 'sqlite'; readonly path: string }
  /** `url` as written (query parameters such as sslmode included), handed to pg as its connection string. */
  | { readonly kind: 'postgres'; readonly url: string };

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;
const POSTGRES_SCHEMES = new Set(['postgres', 'postgresql']);

/** The location, or a reason the text is not one (for a message that names the key). */
export function parseIndexLocation(text: string): IndexLocation | { error: string } {
  const scheme = SCHEME.exec(text)?.[1];
  if (scheme === undefined) return { kind: 'sqlite', path: text };
  if (!POSTGRES_SCHEMES.has(scheme.toLowerCase())) {
    return { error: `unsupported scheme "${scheme}://"; expected a SQLite file path or "postgres://user:password@host:5432/database"` };
  }
  try {
    new URL(text);
  } catch {
    // The text may hold a password: the message does not repeat it.
    return { error: 'not a valid postgres:// URL (percent-encode "@", ":", "/" and "%" inside the user name and password)' };
  }
  return { kind: 'postgres', url: text };
}

const HIDDEN = '***';

/**
 * The URL with its password hidden (in the user part or a `password=` parameter), for logs
 * and error messages; a SQLite path as it is.
 */
export function describeIndex(location: IndexLocation): string {
  return location.kind === 'sqlite' ? location.path : redactUrl(location.url);
}

export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Not parseable (never for a validated location): hide everything between "//" and "@".
    return text.replace(/\/\/[^/@]*@/, `//${HIDDEN}@`);
  }
  if (url.password !== '') url.password = HIDDEN;
  if (url.searchParams.has('password')) url.searchParams.set('password', HIDDEN);
  return url.toString();
}
