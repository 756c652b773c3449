/**
 * Keel as its own token service (Docker token auth): users sign in with Basic credentials at
 * the token endpoint and get a short-lived token listing what they may do per repository;
 * requests to /v2 present that token. Secrets (passwords, tokens) are never logged.
 * Signing in is rate-limited: failures are counted per client address and per user name
 * (failure-limiter.ts), and a password remembered from a recent success skips both the
 * limit and bcrypt, so a user whose name is being attacked keeps working from where they
 * already signed in.
 *
 * Users and rules can be replaced while Keel runs (replace(), on SIGHUP: auth-reload.ts).
 * A token issued before is then checked against them too: a user no longer in the file
 * loses their tokens at once, and a token carries no more than the rules now give.
 */
import type { AccessPolicy } from './access-policy.js';
import { PasswordChecksBusy } from './bcrypt-pool.js';
import type { FailureLimiter } from './failure-limiter.js';
import type { Htpasswd } from './htpasswd.js';
import type { Action, AccessEntry } from './scope.js';
import type { IssuedToken, TokenClaims, TokenIssuer } from './tokens.js';

export interface Principal {
  /** The signed-in user; undefined for anonymous. */
  user: string | undefined;
  allows(repo: string, action: Action): boolean;
  /** Whether `action` on `repo` was asked for and refused when the token was issued. */
  refused(repo: string, action: Action): boolean;
}

export type SignIn =
  | { outcome: 'ok'; user: string }
  | { outcome: 'wrong' }
  /** Too many failures from this client or for this user, or every password worker busy. */
  | { outcome: 'limited'; retryAfterSeconds: number };

export interface SignInLimits {
  limiter: FailureLimiter;
  /** Failures allowed per client address / per user name in the limiter's window; 0: no limit. */
  perClient: number;
  perUser: number;
}

export class AuthService {
  constructor(
    private users: Htpasswd,
    private policy: AccessPolicy,
    private readonly tokens: TokenIssuer,
    private readonly limits: SignInLimits,
  ) {}

  /** The users and rules in force. */
  current(): { users: Htpasswd; policy: AccessPolicy } {
    return { users: this.users, policy: this.policy };
  }

  /** Puts other users and rules in force, for sign-ins and tokens from now on. */
  replace(users: Htpasswd, policy: AccessPolicy): void {
    this.users = users;
    this.policy = policy;
  }

  /** Checks Basic credentials sent from `client` (its address, or a prefix of it). */
  async signIn(username: string, password: string, client: string): Promise<SignIn> {
    // One set of users for the whole check, even if a reload replaces them meanwhile.
    const users = this.users;
    if (users.remembers(username, password)) return { outcome: 'ok', user: username };
    const started = this.limits.limiter.begin([
      { kind: 'client', key: client, max: this.limits.perClient },
      { kind: 'user', key: username, max: this.limits.perUser },
    ]);
    if (!started.allowed) return { outcome: 'limited', retryAfterSeconds: Math.max(1, Math.ceil(started.retryAfterMs / 1000)) };
    let ok: boolean;
    try {
      ok = await users.verify(username, password);
    } catch (err) {
      // Not the caller's failure: it does not count against them.
      started.attempt.succeeded();
      if (err instanceof PasswordChecksBusy) return { outcome: 'limited', retryAfterSeconds: 1 };
      throw err;
    }
    if (!ok) return { outcome: 'wrong' };
    started.attempt.succeeded();
    return { outcome: 'ok', user: username };
  }

  /** A token granting of the requested scopes what `user` may do. */
  async grant(user: string | undefined, requested: AccessEntry[]): Promise<IssuedToken> {
    const access: AccessEntry[] = [];
    for (const scope of requested) {
      if (scope.type === 'registry') {
        if (scope.name === 'catalog' && user !== undefined) access.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        continue;
      }
      const allowed = this.policy.allowed(user, scope.name);
      const wanted = scope.actions.includes('*') ? [...allowed] : scope.actions.filter((a) => allowed.has(a as Action));
      const refused = scope.actions.filter((a) => a !== '*' && !allowed.has(a as Action));
      access.push({ type: 'repository', name: scope.name, actions: wanted, ...(refused.length > 0 ? { refused } : {}) });
    }
    return this.tokens.issue(user, access);
  }

  async principal(token: string): Promise<Principal | undefined> {
    const claims = await this.tokens.verify(token);
    if (!claims || (claims.user !== undefined && !this.users.has(claims.user))) return undefined;
    return this.principalOf(claims);
  }

  /**
   * What `user`, signed in with Basic credentials on the request itself (/api/v1, for curl)
   * rather than with a token, may do: the policy's answer, as a token would have carried it.
   */
  principalFor(user: string): Principal {
    return {
      user,
      allows: (repo, action) => this.policy.allowed(user, repo).has(action),
      refused: (repo, action) => !this.policy.allowed(user, repo).has(action),
    };
  }

  /** What a signed-in user may read, for filtering listings (policy, not token). */
  mayPull(user: string | undefined, repo: string): boolean {
    return this.policy.allowed(user, repo).has('pull');
  }

  private principalOf(claims: TokenClaims): Principal {
    const entries = claims.access.filter((a) => a.type === 'repository');
    const user = claims.user;
    return {
      user,
      // The token's grant, narrowed by the rules in force (they may have changed since it was issued).
      allows: (repo, action) => entries.some((a) => a.name === repo && a.actions.includes(action)) && this.policy.allowed(user, repo).has(action),
      refused: (repo, action) => entries.some((a) => a.name === repo && (a.refused ?? []).includes(action)),
    };
  }
}
