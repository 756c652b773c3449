/**
 * Branded identifiers and the grammars that make them. A RepoName, Tag or Digest
 * only exists after it was validated against the OCI Distribution spec's grammar,
 * so code past the HTTP edge never re-checks them.
 */
import { RegistryError } from './errors.js';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type RepoName = Brand<string, 'RepoName'>;
export type Tag = Brand<string, 'Tag'>;
export type Digest = Brand<string, 'Digest'>;
export type DigestAlgorithm = 'sha256' | 'sha512';

/** Longest repository name accepted (distribution's limit). */
export const MAX_NAME_LENGTH = 255;

const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const HEX_RE = /^[a-f0-9]+$/;

export function isRepoName(raw: string): boolean {
  return raw.length > 0 && raw.length <= MAX_NAME_LENGTH && NAME_RE.test(raw);
}

export function parseRepoName(raw: string): RepoName {
  if (raw.length === 0 || raw.length > MAX_NAME_LENGTH || !NAME_RE.test(raw)) {
    throw new RegistryError('NAME_INVALID', 'invalid repository name', { name: raw.slice(0, MAX_NAME_LENGTH + 1) });
  }
  return raw as RepoName;
}

export function isTag(raw: string): boolean {
  return TAG_RE.test(raw);
}

export function parseTag(raw: string): Tag {
  if (!TAG_RE.test(raw)) {
    throw new RegistryError('MANIFEST_INVALID', 'invalid tag', { tag: raw.slice(0, 200) });
  }
  return raw as Tag;
}

export function isDigestLike(raw: string): boolean {
  return raw.includes(':');
}

/** Validates `algorithm:hex` for the algorithms Keel can verify (sha256, sha512). */
export function parseDigest(raw: string): Digest {
  const m = DIGEST_RE.exec(raw);
  if (!m) throw new RegistryError('DIGEST_INVALID', 'invalid digest', { digest: raw.slice(0, 200) });
  const algorithm = m[1] as string;
  const encoded = m[2] as string;
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm ${algorithm}`, { digest: raw.slice(0, 200) });
  }
  if (encoded.length !== ENCODED_LENGTH[algorithm] || !HEX_RE.test(encoded)) {
    throw new RegistryError('DIGEST_INVALID', `a ${algorithm} digest is ${ENCODED_LENGTH[algorithm]} lowercase hex characters`, {
      digest: raw.slice(0, 200),
    });
  }
  return raw as Digest;
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** A manifest reference is either a tag or a digest. */
export type Reference = { kind: 'tag'; tag: Tag } | { kind: 'digest'; digest: Digest };

export function parseReference(raw: string): Reference {
  if (isDigestLike(raw)) return { kind: 'digest', digest: parseDigest(raw) };
  if (!TAG_RE.test(raw)) {
    throw new RegistryError('MANIFEST_INVALID', 'invalid tag', { tag: raw.slice(0, 200) });
  }
  return { kind: 'tag', tag: raw as Tag };
}
