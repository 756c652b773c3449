/**
 * Builds authentication from [auth]: nothing when no htpasswd file is configured (the
 * quick-start default, with a warning when the server is reachable from other machines).
 * The token signing key is auth.signing_key's file, or, on an index several replicas share,
 * the one kept in the index (signing-key.ts): pass `secrets` for that.
 */
import type { Logger } from 'pino';
import type { AppAuth } from '../app.js';
import type { Config } from '../config/schema.js';
import type { Clock } from '../primitives/clock.js';
import { AccessPolicy } from './access-policy.js';
import { AuthService } from './auth-service.js';
import { BcryptPool } from './bcrypt-pool.js';
import { FailureLimiter } from './failure-limiter.js';
import { Htpasswd } from './htpasswd.js';
import { anonymousMirrorPullWarning } from './mirror-pull-check.js';
import type { SharedSecrets } from '../storage/shared-secrets.js';
import { loadOrCreateSigningKey, sharedSigningKey, type SigningKey, type SigningKeyOrigin } from './signing-key.js';
import { TokenIssuer } from './tokens.js';
import { UiSessions } from './ui-sessions.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

const KEY_MESSAGES: Record<Exclude<SigningKeyOrigin, 'file'>, string> = {
  'created file': 'created a token signing key',
  index: 'signing tokens with the key the replicas share in the index',
  'index, seeded from the file': 'stored the token signing key of auth.signing_key in the index for every replica',
  'index, created': 'created a token signing key in the index for every replica',
};

/** The signing key of every replica on `secrets` (a shared index), or of the auth.signing_key file. */
async function signingKey(path: string, secrets: SharedSecrets | undefined, logger: Logger): Promise<{ key: SigningKey; origin: SigningKeyOrigin }> {
  if (!secrets) {
    const { key, created } = loadOrCreateSigningKey(path);
    return { key, origin: created ? 'created file' : 'file' };
  }
  const shared = await sharedSigningKey(secrets, path);
  if (shared.fileDiffers) logger.warn({ path }, 'auth.signing_key holds another key than the one the replicas share in the index: tokens are signed with the index\'s key, the file is not used');
  return shared;
}

export async function createAuth(config: Config, clock: Clock, logger: Logger, secrets?: SharedSecrets): Promise<AppAuth | undefined> {
  const auth = config.auth;
  if (auth.htpasswd === '') {
    if (!LOOPBACK.has(config.listen.host)) {
      logger.warn({ listen: `${config.listen.host}:${config.listen.port}` }, 'authentication is off and the registry listens beyond loopback: anyone who can reach it can push and delete (set auth.htpasswd)');
    }
    return undefined;
  }
  // The key first: it may fail start-up, and then no password workers were started for nothing.
  const { key, origin } = await signingKey(auth.signing_key, secrets, logger);
  if (origin !== 'file') logger.info({ path: auth.signing_key, origin }, KEY_MESSAGES[origin]);
  const passwords = new BcryptPool({ workers: auth.password_workers, maxQueued: auth.password_queue });
  const users = Htpasswd.load(auth.htpasswd, { verifier: passwords, clock, rememberMs: auth.password_cache_ttl });
  logger.info({ users: users.size, rules: auth.access.length }, 'authentication on');
  const policy = new AccessPolicy(auth);
  const mirrorWarning = anonymousMirrorPullWarning(config.mirror, policy);
  if (mirrorWarning) logger.warn(mirrorWarning.fields, mirrorWarning.message);
  const issuer = new TokenIssuer(key, { issuer: auth.issuer, service: auth.service, ttlMs: auth.token_ttl }, clock);
  const service = new AuthService(users, policy, issuer, {
    limiter: new FailureLimiter(clock, auth.failures.window),
    perClient: auth.failures.per_client,
    perUser: auth.failures.per_user,
  });
  return {
    service,
    // Checked against the users in force on each use: a user removed on SIGHUP is signed out.
    sessions: new UiSessions(key, { issuer: auth.issuer, service: auth.service, ttlMs: auth.ui_session_ttl }, clock, (user) => service.current().users.has(user)),
    options: { service: auth.service, realm: auth.realm === '' ? undefined : auth.realm },
    close: () => passwords.close(),
  };
}
