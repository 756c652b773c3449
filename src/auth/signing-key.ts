/**
 * The key that signs access tokens: an EC P-256 private key in PEM, read from auth.signing_key
 * or, on first start, generated there (mode 0600). Tokens signed by any other key are refused.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { StartupError } from '../config/errors.js';

/** A key file an operator must fix: one line naming the setting, the path and what to do. */
function unusable(path: string, why: string, cause?: unknown): StartupError {
  return new StartupError(`auth.signing_key "${path}": ${why}; replace it with an EC P-256 private key in PEM, or remove it to have one created (KEEL_AUTH_SIGNING_KEY)`, { cause });
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function loadOrCreateSigningKey(path: string): { key: SigningKey; created: boolean } {
  let pem: string;
  let created = false;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw unusable(path, `cannot read it (${code ?? (err as Error).message})`, err);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
    created = true;
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw unusable(path, 'is not a private key in PEM', err);
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw unusable(path, `is a ${privateKey.asymmetricKeyType ?? 'unknown'} key${privateKey.asymmetricKeyDetails?.namedCurve ? ` on ${privateKey.asymmetricKeyDetails.namedCurve}` : ''}, not EC P-256`);
  }
  return { key: { privateKey, publicKey: createPublicKey(privateKey) }, created };
}
