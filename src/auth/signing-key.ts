/**
 * The key that signs access tokens: an EC P-256 private key in PEM. Tokens signed by any other
 * key are refused, so every replica behind one load balancer must hold the same key.
 *
 * On an index of one host (SQLite), the key is the file auth.signing_key, generated there
 * (mode 0600) on first start. On a shared index (IndexSet.shared: PostgreSQL), the key lives
 * in the index (SharedSecrets, name "token-signing-key"): the first replica to start stores
 * it, seeded from its auth.signing_key file when there is one (an existing single-host
 * deployment keeps its tokens valid), generated otherwise, and nothing is written to local
 * disk; every other replica reads that one. A token issued by one replica is accepted by all.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StartupError } from '../config/errors.js';
import type { SharedSecrets } from '../storage/shared-secrets.js';

/** The name of the key among the index's shared secrets. */
export const SIGNING_KEY_SECRET = 'token-signing-key';

/** A key file an operator must fix: one line naming the setting, the path and what to do. */
function unusable(path: string, why: string, cause?: unknown): StartupError {
  return new StartupError(`auth.signing_key "${path}": ${why}; replace it with an EC P-256 private key in PEM, or remove it to have one created (KEEL_AUTH_SIGNING_KEY)`, { cause });
}

/** The key stored in the index is damaged: nothing an operator fixes in a file. */
function unusableShared(why: string, cause?: unknown): StartupError {
  return new StartupError(`the token signing key stored in the index (shared secret "${SIGNING_KEY_SECRET}") ${why}; delete that row to have one created (every token issued so far becomes invalid)`, { cause });
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Where the key in force came from, for the start-up log. */
export type SigningKeyOrigin = 'file' | 'created file' | 'index' | 'index, seeded from the file' | 'index, created';

function generatePem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

function parseKey(pem: string, fail: (why: string, cause?: unknown) => StartupError): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw fail('is not a private key in PEM', err);
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw fail(`is a ${privateKey.asymmetricKeyType ?? 'unknown'} key${privateKey.asymmetricKeyDetails?.namedCurve ? ` on ${privateKey.asymmetricKeyDetails.namedCurve}` : ''}, not EC P-256`);
  }
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

export function loadOrCreateSigningKey(path: string): { key: SigningKey; created: boolean } {
  let pem: string;
  let created = false;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw unusable(path, `cannot read it (${code ?? (err as Error).message})`, err);
    pem = generatePem();
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
    created = true;
  }
  return { key: parseKey(pem, (why, cause) => unusable(path, why, cause)), created };
}

/**
 * The key every replica on a shared index signs with (see the header). `fileDiffers` is true
 * when an auth.signing_key file exists but the index holds another key (the index's wins).
 */
export async function sharedSigningKey(secrets: SharedSecrets, path: string): Promise<{ key: SigningKey; origin: SigningKeyOrigin; fileDiffers: boolean }> {
  let filePem: string | undefined;
  try {
    filePem = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw unusable(path, `cannot read it (${code ?? (err as Error).message})`, err);
  }
  // A file that would seed the index is checked first: a bad one is the operator's to fix, named as a file.
  if (filePem !== undefined) parseKey(filePem, (why, cause) => unusable(path, why, cause));
  let offered: string | undefined;
  const pem = await secrets.getOrCreate(SIGNING_KEY_SECRET, () => (offered = filePem ?? generatePem()));
  const ours = offered !== undefined && pem === offered;
  const origin: SigningKeyOrigin = !ours ? 'index' : filePem !== undefined ? 'index, seeded from the file' : 'index, created';
  return { key: parseKey(pem, unusableShared), origin, fileDiffers: filePem !== undefined && filePem !== pem };
}
