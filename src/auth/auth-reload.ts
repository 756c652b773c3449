/**
 * SIGHUP: users and access rules without a restart. The configuration file is read again the
 * way start-up read it; of it, only [auth] access and groups are applied, and the htpasswd file
 * (at the path Keel started with) is read again. Everything is read and checked before
 * anything is replaced, so a bad htpasswd line, bad TOML or an invalid rule leaves the users
 * and rules in force as they were, with an error in the log. Other changed settings are
 * named in a warning and wait for a restart. Nothing here throws: a signal must never end Keel.
 */
import type { Logger } from 'pino';
import { changedSettings } from '../config/changed-settings.js';
import type { Config } from '../config/schema.js';
import { AccessPolicy } from './access-policy.js';
import type { AuthService } from './auth-service.js';

/** What a reload applies; every other setting needs a restart. */
const RELOADED = ['auth.access', 'auth.groups'] as const;

export interface AuthReloadDeps {
  /** The configuration Keel started with: what is running, apart from users and rules. */
  started: Config;
  /** Reads the configuration file again, as start-up did; throws ConfigError. */
  load: () => Config;
  /** The authentication in force; undefined when it was off at start. */
  auth: AuthService | undefined;
  logger: Logger;
}

export type ReloadOutcome = 'off' | 'failed' | 'reloaded';

export function reloadAuth({ started, load, auth, logger }: AuthReloadDeps): ReloadOutcome {
  if (!auth) {
    logger.warn({ signal: 'SIGHUP' }, 'authentication is off (no auth.htpasswd at start): nothing to reload; turning it on needs a restart');
    return 'off';
  }
  const { users, policy } = auth.current();
  let next: { config: Config; users: typeof users; policy: AccessPolicy };
  try {
    const config = load();
    next = { config, policy: new AccessPolicy(config.auth), users: users.reread() };
  } catch (err) {
    // ConfigError and HtpasswdError name the file and the line or key. Only the first line goes to
    // the log: a TOML error goes on to quote lines of the file, which may hold upstream passwords.
    const error = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    logger.error({ signal: 'SIGHUP', error }, 'reload failed: kept the previous users and access rules');
    return 'failed';
  }
  auth.replace(next.users, next.policy);
  const changes = users.changesTo(next.users);
  logger.info(
    {
      signal: 'SIGHUP',
      htpasswd: users.path,
      users: next.users.size,
      users_added: changes.added,
      users_removed: changes.removed,
      passwords_changed: changes.changed,
      rules_before: policy.size,
      rules_after: next.policy.size,
    },
    'reloaded users and access rules',
  );
  const pending = changedSettings(started, next.config, RELOADED);
  if (pending.length > 0) {
    logger.warn({ signal: 'SIGHUP', settings: pending }, 'changed settings not applied: only users (htpasswd) and access rules are reloaded, the rest needs a restart');
  }
  return 'reloaded';
}
