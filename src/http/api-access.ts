/**
 * Access checks for /api/v1 when auth is on. authenticate.ts only guards /v2, so these
 * routes check for themselves, with the same rules: a Bearer token from /token as on /v2,
 * or Basic credentials on the request itself (what curl users have), checked against
 * htpasswd with the rights the access rules give that user.
 *   - no credentials, or an invalid token: 401 with the /v2 Bearer challenge;
 *   - wrong Basic credentials: 401 with a Basic challenge, as the token endpoint answers
 *     (too many failures: 429, sign-in.ts);
 *   - a token not issued for the action: 401 asking for that scope; a signed-in user whom
 *     the rules refuse: 403 DENIED.
 */
import type { Request, Response } from 'express';
import type { AuthService, Principal } from '../auth/auth-service.js';
import { formatScope, type Action } from '../auth/scope.js';
import { RegistryError } from '../primitives/errors.js';
import { challenge, type AuthOptions } from './authenticate.js';
import { basicCredentials } from './routes/token.js';
import { signInOrRefuse } from './sign-in.js';

export interface ApiAuth {
  service: AuthService;
  options: AuthOptions;
}

/** Who sent the request; undefined when auth is off. */
export interface Caller {
  principal: Principal;
  /** A token can be re-requested with more scope; a Basic user is what the rules say. */
  via: 'token' | 'basic';
}

/**
 * Reads the request's credentials; throws UNAUTHORIZED when there are none or they are wrong.
 * `scope` goes into the challenge when the repository is already known (export).
 */
export async function identify(req: Request, res: Response, auth: ApiAuth, scope: string | undefined): Promise<Caller> {
  const header = req.headers.authorization;
  if (header?.toLowerCase().startsWith('bearer ')) {
    const principal = await auth.service.principal(header.slice(7).trim());
    if (!principal) {
      challenge(res, req, auth.options, scope, 'invalid_token');
      throw new RegistryError('UNAUTHORIZED', 'access token is invalid or expired', scope ? { scope } : undefined);
    }
    return { principal, via: 'token' };
  }
  const credentials = basicCredentials(req);
  if (credentials) {
    const user = await signInOrRefuse(req, res, auth.service, auth.options.service, credentials.username, credentials.password);
    return { principal: auth.service.principalFor(user), via: 'basic' };
  }
  challenge(res, req, auth.options, scope);
  throw new RegistryError('UNAUTHORIZED', 'authentication required: a Bearer token from /token, or Basic credentials', scope ? { scope } : undefined);
}

/** Throws unless `caller` may take every one of `actions` on `repo`; records the user for the request log. */
export function authorize(req: Request, res: Response, auth: ApiAuth, caller: Caller, repo: string, actions: Action[]): void {
  const { principal } = caller;
  const missing = actions.filter((a) => !principal.allows(repo, a));
  if (missing.length > 0) {
    const refused = missing.some((a) => principal.refused(repo, a));
    if (caller.via === 'token' && (!refused || principal.user === undefined)) {
      const scope = formatScope(repo, actions);
      challenge(res, req, auth.options, scope, 'insufficient_scope');
      const why = refused ? `: anonymous may not ${missing.join(', ')} ${repo}` : '';
      throw new RegistryError('UNAUTHORIZED', `authentication required${why}`, { scope });
    }
    throw new RegistryError('DENIED', `requested access to the resource is denied: ${principal.user ?? 'anonymous'} may not ${missing.join(', ')} ${repo}`, {
      name: repo,
      actions: missing,
    });
  }
  res.locals.principal = principal;
  res.locals.user = principal.user;
}
