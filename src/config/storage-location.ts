/**
 * What `registry_storage` and `proxy_storage` name: a directory (a plain path, as always) or
 * a place in an S3 bucket (`s3://<bucket>/<prefix>`, the prefix optional). Parsed once here;
 * the rest of Keel switches on `kind` and never looks at the text again.
 */

export type StorageLocation =
  | { readonly kind: 'filesystem'; readonly path: string }
  /** `prefix` has no leading or trailing "/" and is "" for the bucket's root. */
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string };

/** Anything that starts like a URL ("gs://", "file://") is one, and only s3:// is understood. */
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;
/** S3's rules for new bucket names (lower case, digits, dots, hyphens; 3-63; letter or digit at both ends). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_LIKE = /^\d+\.\d+\.\d+\.\d+$/;

/** The location, or a reason the text is not one (for a message that names the key). */
export function parseStorageLocation(text: string): StorageLocation | { error: string } {
  const scheme = SCHEME.exec(text)?.[1];
  if (scheme === undefined) return { kind: 'filesystem', path: text };
  const expected = 'expected a directory path or "s3://<bucket>/<prefix>"';
  if (scheme.toLowerCase() !== 's3') return { error: `unsupported scheme "${scheme}://"; ${expected}` };
  const rest = text.slice(scheme.length + 3);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash + 1);
  if (bucket === '') return { error: `no bucket name in ${JSON.stringify(text)}; ${expected}` };
  if (!BUCKET.test(bucket) || bucket.includes('..') || IP_LIKE.test(bucket)) {
    return { error: `"${bucket}" is not a valid S3 bucket name (3-63 characters: lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit)` };
  }
  if (/[?#\\]|[\u0000-\u001f\u007f]/.test(path)) return { error: `the prefix "${path}" may not hold "?", "#", "\\" or control characters` };
  // One trailing "/" is allowed ("s3://bucket/keel/"); any other empty segment is a typo.
  const segments = path.split('/').filter((s, i, all) => !(s === '' && i === all.length - 1));
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return { error: `the prefix "${path}" has an empty, "." or ".." segment` };
  return { kind: 's3', bucket, prefix: segments.join('/') };
}

/** Two S3 locations that share keys: one's prefix is the other's or lies inside it. */
export function overlaps(a: StorageLocation, b: StorageLocation): boolean {
  if (a.kind !== 's3' || b.kind !== 's3' || a.bucket !== b.bucket) return false;
  const inside = (x: string, y: string): boolean => x === y || y === '' || x.startsWith(`${y}/`);
  return inside(a.prefix, b.prefix) || inside(b.prefix, a.prefix);
}
