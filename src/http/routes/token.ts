/**
 * The token endpoint: `GET /token?service=&scope=` with optional Basic credentials (docker,
 * skopeo, podman), and the OAuth2 form `POST /token` (grant_type=password) that containerd and
 * podman also use. Wrong credentials are 401, too many failures 429 (sign-in.ts); anonymous requests get what anonymous may do.
 */
import express, { type Request, type Router } from 'express';
import type { AuthService } from '../../auth/auth-service.js';
import { parseScopes } from '../../auth/scope.js';
import { RegistryError } from '../../primitives/errors.js';
import { signInOrRefuse } from '../sign-in.js';

function all(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : [];
}

export function basicCredentials(req: Request): { username: string; password: string } | undefined {
  const header = req.headers.authorization;
  if (!header?.toLowerCase().startsWith('basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function tokenRouter(auth: AuthService, service: string): Router {
  const router = express.Router();

  router.get('/token', async (req, res) => {
    const credentials = basicCredentials(req);
    let user: string | undefined;
    if (credentials) user = await signInOrRefuse(req, res, auth, service, credentials.username, credentials.password);
    const issued = await auth.grant(user, parseScopes(all(req.query.scope)));
    res.set('Cache-Control', 'no-store').json({ token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt });
  });

  router.post('/token', express.urlencoded({ extended: false, limit: '16kb' }), async (req, res) => {
    const form = (req.body ?? {}) as Record<string, unknown>;
    if (form.grant_type !== 'password') {
      throw new RegistryError('UNSUPPORTED', 'only grant_type=password is supported; use GET /token otherwise', { grant_type: String(form.grant_type ?? '') }, 400);
    }
    const username = typeof form.username === 'string' ? form.username : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const user = await signInOrRefuse(req, res, auth, service, username, password);
    const issued = await auth.grant(user, parseScopes(all(form.scope)));
    res.set('Cache-Control', 'no-store').json({ access_token: issued.token, token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt, scope: all(form.scope).join(' ') });
  });

  return router;
}
