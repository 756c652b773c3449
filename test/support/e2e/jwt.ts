// Compact JSON Web Tokens (RFC 7519) signed with node:crypto, in the shape the Docker token
// auth spec uses and Distribution 2.8 verifies (registry/auth/token/token.go): base64url
// without padding, `alg` RS256 (PKCS#1 v1.5 over SHA-256) or ES256 (P-256, the signature as
// raw r||s, 64 bytes, not DER: libtrust rejects anything else).
import { sign, type KeyObject } from 'node:crypto';

export type JwtAlgorithm = 'RS256' | 'ES256';

export interface JwtHeader {
  typ: 'JWT';
  alg: JwtAlgorithm;
  /** Certificate chain, leaf first, each standard base64 (not base64url) DER. */
  x5c?: string[];
  kid?: string;
}

/** One grant of the Docker token spec's private `access` claim. */
export interface ResourceAccess {
  type: string;
  name: string;
  actions: string[];
}

export interface JwtClaims {
  iss: string;
  sub: string;
  aud: string;
  /** Seconds since the epoch, like nbf and iat. */
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: ResourceAccess[];
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** `header.claims.signature`, signed with `key` as `header.alg` says. */
export function signJwt(header: JwtHeader, claims: JwtClaims, key: KeyObject): string {
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature =
    header.alg === 'RS256'
      ? sign('sha256', Buffer.from(signingInput), key)
      : sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${base64url(signature)}`;
}

/** Header and claims of a token, unverified (for assertions in tests). */
export function decodeJwt(token: string): { header: JwtHeader; claims: JwtClaims } {
  const [header, claims, signature] = token.split('.');
  if (header === undefined || claims === undefined || signature === undefined) throw new Error(`not a compact JWT: ${token}`);
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as JwtHeader,
    claims: JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as JwtClaims,
  };
}
