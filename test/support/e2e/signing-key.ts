// A throwaway token-signing key and its self-signed certificate, made with the openssl CLI
// (node:crypto makes keys but cannot issue X.509 certificates).
//
// Distribution 2.8 trusts a token whose `x5c` header chains to a certificate in its
// `rootcertbundle`; a self-signed certificate that is itself the whole bundle is the
// shortest such chain (Go's x509 accepts a leaf that is one of the roots).
//
// Files written to `dir`:
//   <name>.key.pem   PKCS#8 private key, unencrypted
//   <name>.crt.pem   self-signed certificate, valid from now for a day
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JwtAlgorithm } from './jwt.js';
import { run } from './run.js';
import { toolPath } from './tools.js';

/** rsa: RSA 2048, signs RS256. ec: P-256, signs ES256. */
export type SigningKeyType = 'rsa' | 'ec';

export interface SigningKey {
  readonly alg: JwtAlgorithm;
  readonly privateKey: KeyObject;
  readonly keyFile: string;
  /** PEM certificate: what Distribution's `rootcertbundle` names. */
  readonly certFile: string;
  /** The certificate as a JWT `x5c` header value: [base64 DER]. */
  readonly x5c: string[];
}

export interface CreateSigningKeyOptions {
  dir: string;
  /** File name stem; default "token-signing". */
  name?: string;
  keyType?: SigningKeyType;
  /** Subject CN of the certificate; default "keel-e2e-token-signer". */
  commonName?: string;
}

export async function createSigningKey(opts: CreateSigningKeyOptions): Promise<SigningKey> {
  const name = opts.name ?? 'token-signing';
  const keyType = opts.keyType ?? 'rsa';
  const keyFile = join(opts.dir, `${name}.key.pem`);
  const certFile = join(opts.dir, `${name}.crt.pem`);
  const newKey = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await run(toolPath('openssl'), [
    'req',
    '-x509',
    ...newKey,
    '-nodes',
    '-sha256',
    '-days',
    '1',
    '-subj',
    `/CN=${opts.commonName ?? 'keel-e2e-token-signer'}`,
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  const cert = new X509Certificate(await readFile(certFile));
  return {
    alg: keyType === 'rsa' ? 'RS256' : 'ES256',
    privateKey: createPrivateKey(await readFile(keyFile)),
    keyFile,
    certFile,
    x5c: [cert.raw.toString('base64')],
  };
}
