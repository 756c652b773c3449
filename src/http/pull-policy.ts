/**
 * What the access rules let the caller of a request pull, for names other than the one its
 * token was issued for: a mirrored read serves `proxy/<upstream>/<name>` under a plain local
 * name, and the client never asks for a token for the proxied one. Set by authenticate.ts
 * on every /v2 request it lets through; absent when auth is off.
 */
import type { Response } from 'express';

export type MayPull = (repo: string) => boolean;

const policies = new WeakMap<Response, MayPull>();

export function setPullPolicy(res: Response, mayPull: MayPull): void {
  policies.set(res, mayPull);
}

/** undefined: auth is off, everyone may pull everything. */
export function pullPolicyOf(res: Response): MayPull | undefined {
  return policies.get(res);
}
