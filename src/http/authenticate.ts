/**
 * Bearer-token checks in front of /v2 when auth is on. Each request needs a scope (pull for
 * reads, push for writes, delete for deletes) on its repository:
 *   - no or invalid token: 401 with the challenge (`WWW-Authenticate: Bearer realm,service,scope`);
 *   - a token that was not issued for this action: 401 asking for that scope;
 *   - a signed-in user's token whose request for this action was refused: 403 DENIED (the user
 *     may not), so the client shows a clear error instead of asking for tokens in a loop;
 *     for an anonymous token, 401: signing in may help, and clients say so;
 *   - except a pull that mirror mode may answer: its refusal is left to routes/mirror.ts, which
 *     gives it unless the mirror serves the read (see mirror-access.ts).
 * GET /v2/ needs any valid token (an anonymous one too); _catalog a signed-in user.
 */
import type { Request, Response } from 'express';
import type { AuthService, Principal } from '../auth/auth-service.js';
import { formatScope, type Action } from '../auth/scope.js';
import { RegistryError } from '../primitives/errors.js';
import { deferRefusal, mirrorMayAnswer } from './mirror-access.js';
import { setPullPolicy } from './pull-policy.js';
import type { V2Route } from './route-match.js';

type Need = { kind: 'any' } | { kind: 'catalog' } | { kind: 'repository'; name: string; actions: Action[] };

function needOf(req: Request, route: V2Route): Need {
  if (route.kind === 'base') return { kind: 'any' };
  if (route.kind === 'catalog') return { kind: 'catalog' };
  const method = req.method;
  const read = method === 'GET' || method === 'HEAD';
  if (method === 'DELETE' && (route.kind === 'manifest' || route.kind === 'blob')) return { kind: 'repository', name: route.name, actions: ['delete'] };
  if (read && route.kind !== 'upload') return { kind: 'repository', name: route.name, actions: ['pull'] };
  // Uploads (start, chunks, status, finish, cancel) and manifest PUT; docker asks for pull too.
  return { kind: 'repository', name: route.name, actions: ['pull', 'push'] };
}

export interface AuthOptions {
  service: string;
  /** Fixed realm URL, or undefined to derive it from the request. */
  realm: string | undefined;
}

/** Sets the Bearer challenge pointing clients at the token endpoint (also used by /api/v1). */
export function challenge(res: Response, req: Request, options: AuthOptions, scope: string | undefined, error?: string): void {
  const realm = options.realm ?? `${req.protocol}://${req.get('host') ?? 'localhost'}/token`;
  const parts = [`realm="${realm}"`, `service="${options.service}"`];
  if (scope) parts.push(`scope="${scope}"`);
  if (error) parts.push(`error="${error}"`);
  res.set('WWW-Authenticate', `Bearer ${parts.join(',')}`);
}

/**
 * The answer to a request whose token lacks `missing` on `name`: 401 with a challenge, unless a
 * signed-in user was refused when the token was issued (403 DENIED).
 */
interface Lack {
  principal: Principal;
  name: string;
  missing: Action[];
  /** Asked for and refused when the token was issued (rather than not asked for). */
  refused: boolean;
  scope: string | undefined;
}

function refusalOf(res: Response, req: Request, options: AuthOptions, { principal, name, missing, refused, scope }: Lack): RegistryError {
  if (!refused || principal.user === undefined) {
    challenge(res, req, options, scope, 'insufficient_scope');
    const why = refused ? `: anonymous may not ${missing.join(', ')} ${name}` : '';
    return new RegistryError('UNAUTHORIZED', `authentication required${why}`, { scope });
  }
  return new RegistryError('DENIED', `requested access to the resource is denied: ${principal.user} may not ${missing.join(', ')} ${name}`, { name, actions: missing });
}

/** Checks a /v2 request's token (throws the refusal) and records its principal on the response. */
export type V2Access = (req: Request, res: Response, route: V2Route) => Promise<void>;

export function authenticate(auth: AuthService, options: AuthOptions): V2Access {
  return async (req, res, route) => {
    const need = needOf(req, route);
    const scope = need.kind === 'repository' ? formatScope(need.name, need.actions) : need.kind === 'catalog' ? 'registry:catalog:*' : undefined;
    const header = req.headers.authorization;
    const token = header?.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : undefined;
    const principal: Principal | undefined = token ? await auth.principal(token) : undefined;
    if (!principal) {
      challenge(res, req, options, scope, token ? 'invalid_token' : undefined);
      throw new RegistryError('UNAUTHORIZED', token ? 'access token is invalid or expired' : 'authentication required', scope ? { scope } : undefined);
    }
    if (need.kind === 'catalog' && principal.user === undefined) {
      challenge(res, req, options, scope, 'insufficient_scope');
      throw new RegistryError('UNAUTHORIZED', 'listing the catalog needs a signed-in user');
    }
    if (need.kind === 'repository') {
      const missing = need.actions.filter((a) => !principal.allows(need.name, a));
      if (missing.length > 0) {
        const refused = missing.some((a) => principal.refused(need.name, a));
        const refusal = (): RegistryError => refusalOf(res, req, options, { principal, name: need.name, missing, refused, scope });
        // A pull refused on the local name may still be answered by the mirror, checked
        // against the proxied name it would serve (mirror-access.ts); anything else is refused here.
        if (refused && mirrorMayAnswer(route, req.method)) deferRefusal(res, refusal);
        else throw refusal();
      }
    }
    res.locals.principal = principal;
    res.locals.user = principal.user;
    res.locals.mayList = (repo: string): boolean => auth.mayPull(principal.user, repo);
    setPullPolicy(res, (repo) => auth.mayPull(principal.user, repo));
  };
}
