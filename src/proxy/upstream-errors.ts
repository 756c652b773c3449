/**
 * The one place where upstream failures become RegistryErrors: what the client of Keel sees
 * when an upstream refuses, is missing something, limits us, or cannot be reached.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { RegistryError, type ErrorCode } from '../primitives/errors.js';
import type { TooLarge } from '../primitives/read-capped.js';
import { PrivateAddressError } from './address-guard.js';
import type { Upstream } from './upstreams.js';

/** Failures after which a stale cached copy may be served: the upstream is down or overloaded, not saying no. */
export function isUnavailable(err: unknown): boolean {
  return err instanceof RegistryError && (err.code === 'UNAVAILABLE' || err.code === 'TOOMANYREQUESTS');
}

function privateAddress(err: unknown): PrivateAddressError | undefined {
  for (let e: unknown = err; e instanceof Error; e = (e as Error & { cause?: unknown }).cause) {
    if (e instanceof PrivateAddressError) return e;
  }
  return undefined;
}

/** A request that got no HTTP answer: refused address, DNS, connection, timeout. */
export function transportFailure(upstream: Upstream, err: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  const blocked = privateAddress(err);
  if (blocked) return new RegistryError('DENIED', `upstream "${upstream.name}" refused: ${blocked.message}`, { upstream: upstream.name });
  const code = (err as NodeJS.ErrnoException).code;
  const what = (err as Error).name === 'TimeoutError' ? 'timed out' : `failed (${code ?? (err as Error).message})`;
  return new RegistryError('UNAVAILABLE', `upstream "${upstream.name}" ${what}`, { upstream: upstream.name });
}

/**
 * A non-success HTTP answer from the upstream. `notFound` is the code a 404 means here. A
 * 429's `Retry-After` goes on to the client, so it backs off as long as the upstream asked.
 */
export function statusFailure(upstream: Upstream, status: number, notFound: ErrorCode, headers: IncomingHttpHeaders = {}): RegistryError {
  const detail = { upstream: upstream.name, status };
  if (status === 404) return new RegistryError(notFound, `not found on upstream "${upstream.name}"`, detail);
  if (status === 401 || status === 403) {
    return new RegistryError('DENIED', `upstream "${upstream.name}" refused access (HTTP ${status}); check its credentials`, detail);
  }
  if (status === 429) {
    const retryAfter = validRetryAfter(headers['retry-after']);
    return new RegistryError('TOOMANYREQUESTS', `upstream "${upstream.name}" is rate limiting`, detail, undefined, retryAfter ? { 'Retry-After': retryAfter } : {});
  }
  if (status >= 500) return new RegistryError('UNAVAILABLE', `upstream "${upstream.name}" failed (HTTP ${status})`, detail);
  return new RegistryError('UNAVAILABLE', `upstream "${upstream.name}" answered HTTP ${status}`, detail, 502);
}

/** An upstream answer larger than Keel reads (`what`: "manifest", "token response", ...): an upstream fault. */
export function upstreamTooLarge(upstream: Upstream, what: string): TooLarge {
  return (max) => new RegistryError('UNAVAILABLE', `upstream "${upstream.name}" sent a ${what} larger than the limit of ${max} bytes`, { upstream: upstream.name, limit: max }, 502);
}

/** `Retry-After` as RFC 9110 allows it (delay-seconds or an HTTP-date); anything else is not passed on. */
function validRetryAfter(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d{1,10}$/.test(trimmed)) return trimmed;
  if (/^[\x20-\x7e]{1,64}$/.test(trimmed) && /[a-z]/i.test(trimmed) && Number.isFinite(Date.parse(trimmed))) return trimmed;
  return undefined;
}
