/**
 * Keel as its own token service (Docker token auth): users sign in with Basic credentials at
 * the token endpoint and get a short-lived token listing what they may do per repository;
 * requests to /v2 present that token. Secrets (passwords, tokens) are never logged.
 */
import type { AccessPolicy } from './access-policy.js';
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

export class AuthService {
  constructor(
    private readonly users: Htpasswd,
    private readonly policy: AccessPolicy,
    private readonly tokens: TokenIssuer,
  ) {}

  /** undefined: the credentials are wrong. */
  async signIn(username: string, password: string): Promise<string | undefined> {
    return (await this.users.verify(username, password)) ? username : undefined;
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
    return claims && this.principalOf(claims);
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
    return {
      user: claims.user,
      allows: (repo, action) => entries.some((a) => a.name === repo && a.actions.includes(action)),
      refused: (repo, action) => entries.some((a) => a.name === repo && (a.refused ?? []).includes(action)),
    };
  }
}
