/**
 * A token from Keel's own token service, as a client signs in for it: `GET /token` with the
 * scopes asked for and Basic credentials (none: anonymous). The answer must be 200.
 */
import { expect } from '@jest/globals';

export async function keelToken(baseUrl: string, scopes: string[], user?: { username: string; password: string }): Promise<string> {
  const query = new URLSearchParams({ service: 'keel' });
  for (const scope of scopes) query.append('scope', scope);
  const headers: Record<string, string> = user ? { Authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}` } : {};
  const res = await fetch(`${baseUrl}/token?${query.toString()}`, { headers });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}
