/**
 * Basic credentials checked for the token endpoint and /api/v1, in one place: wrong ones are
 * 401 with a Basic challenge; too many failures from this client or for this user (or every
 * password worker busy) are 429 TOOMANYREQUESTS with Retry-After, before any bcrypt work.
 * The client is the connection's address (`trust proxy` is not used: a forwarded header is
 * the client's to forge); IPv6 clients are counted per /64, what one host usually holds.
 */
import type { Request, Response } from 'express';
import ipaddr from 'ipaddr.js';
import type { AuthService } from '../auth/auth-service.js';
import { RegistryError } from '../primitives/errors.js';

export function clientOf(req: Request): string {
  const address = req.socket.remoteAddress ?? '';
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  return `${v6.parts.slice(0, 4).map((p) => p.toString(16)).join(':')}::/64`;
}

/** The signed-in user; throws UNAUTHORIZED (wrong) or TOOMANYREQUESTS (limited). */
export async function signInOrRefuse(req: Request, res: Response, auth: AuthService, realm: string, username: string, password: string): Promise<string> {
  const result = await auth.signIn(username, password, clientOf(req));
  if (result.outcome === 'ok') return result.user;
  if (result.outcome === 'limited') {
    res.set('Retry-After', String(result.retryAfterSeconds));
    throw new RegistryError('TOOMANYREQUESTS', 'too many failed sign-ins; try again later', { retry_after: result.retryAfterSeconds });
  }
  res.set('WWW-Authenticate', `Basic realm="${realm}"`);
  throw new RegistryError('UNAUTHORIZED', 'invalid username or password');
}
