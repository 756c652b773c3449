/**
 * Builds authentication from [auth]: nothing when no htpasswd file is configured (the
 * quick-start default, with a warning when the server is reachable from other machines).
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
import { loadOrCreateSigningKey } from './signing-key.js';
import { TokenIssuer } from './tokens.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function createAuth(config: Config, clock: Clock, logger: Logger): AppAuth | undefined {
  const auth = config.auth;
  if (auth.htpasswd === '') {
    if (!LOOPBACK.has(config.listen.host)) {
      logger.warn({ listen: `${config.listen.host}:${config.listen.port}` }, 'authentication is off and the registry listens beyond loopback: anyone who can reach it can push and delete (set auth.htpasswd)');
    }
    return undefined;
  }
  const passwords = new BcryptPool({ workers: auth.password_workers, maxQueued: auth.password_queue });
  const users = Htpasswd.load(auth.htpasswd, { verifier: passwords, clock, rememberMs: auth.password_cache_ttl });
  const { key, created } = loadOrCreateSigningKey(auth.signing_key);
  if (created) logger.info({ path: auth.signing_key }, 'created a token signing key');
  logger.info({ users: users.size, rules: auth.access.length }, 'authentication on');
  const policy = new AccessPolicy(auth);
  const mirrorWarning = anonymousMirrorPullWarning(config.mirror, policy);
  if (mirrorWarning) logger.warn(mirrorWarning.fields, mirrorWarning.message);
  const issuer = new TokenIssuer(key, { issuer: auth.issuer, service: auth.service, ttlMs: auth.token_ttl }, clock);
  return {
    service: new AuthService(users, policy, issuer, {
      limiter: new FailureLimiter(clock, auth.failures.window),
      perClient: auth.failures.per_client,
      perUser: auth.failures.per_user,
    }),
    options: { service: auth.service, realm: auth.realm === '' ? undefined : auth.realm },
    close: () => passwords.close(),
  };
}
