/**
 * Which reads mirror mode may answer, and the refusal authenticate.ts leaves to it.
 *
 * A Docker daemon's `registry-mirrors` pulls plain names (`library/nginx`) anonymously. The
 * access rules let anonymous pull `proxy/<upstream>/**`, not the plain local names (that would
 * open local private repositories too), so refusing a pull up front for lack of `pull` on the
 * local name would refuse every mirrored pull. Instead, when the caller's token was refused
 * `pull` on the local name, authenticate.ts defers the refusal to the mirror route, which
 * serves nothing local and either answers from the mirror (authorized against the proxied
 * name it serves) or throws the refusal exactly as authenticate.ts would have.
 * A handler that is not mirror-aware never sees a deferred refusal: v2-router.ts throws it.
 */
import type { Response } from 'express';
import type { RegistryError } from '../primitives/errors.js';
import { isProxyName } from '../proxy/proxy-name.js';
import type { V2Route } from './route-match.js';

/** The methods mirror mode answers per route kind. HEAD of a blob is a pushing client's "do you have it?": never mirrored. */
export const MIRRORED_METHODS = {
  manifest: ['GET', 'HEAD'],
  blob: ['GET'],
  tags: ['GET'],
} as const satisfies Partial<Record<V2Route['kind'], ReadonlyArray<'GET' | 'HEAD'>>>;

/** Whether mirror mode may answer this request (a read of a plain, not `proxy/`, name). */
export function mirrorMayAnswer(route: V2Route, method: string): boolean {
  if (!(route.kind in MIRRORED_METHODS) || !('name' in route) || isProxyName(route.name)) return false;
  const methods: ReadonlyArray<string> = MIRRORED_METHODS[route.kind as keyof typeof MIRRORED_METHODS];
  return methods.includes(method);
}

/** Builds the refusal (its challenge header included) when it is finally given. */
export type Refusal = () => RegistryError;

const deferred = new WeakMap<Response, Refusal>();

export function deferRefusal(res: Response, refusal: Refusal): void {
  deferred.set(res, refusal);
}

/** The refusal of the local name left to the mirror, if any: nothing local may be served. */
export function deferredRefusalOf(res: Response): Refusal | undefined {
  return deferred.get(res);
}

const mirrorAware = new WeakSet<object>();

/** Marks a handler that honours a deferred refusal (mirror.ts's fallbacks). */
export function markMirrorAware<H extends object>(handler: H): H {
  mirrorAware.add(handler);
  return handler;
}

export function isMirrorAware(handler: object): boolean {
  return mirrorAware.has(handler);
}
