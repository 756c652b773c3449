/**
 * One writing request's hold on an upload session (RegistryIndex.claimUpload): of two
 * requests writing to one session at once, on this replica or on another one behind the same
 * load balancer, exactly one holds it and the other is refused with 416, so bytes are never
 * interleaved. The hold lives in the index, not in this process: a per-process set (what Keel
 * had before issue 18) cannot see a PATCH that another replica is streaming.
 *
 * A hold ends when the request does (released in `finally`) and otherwise after `ttlMs` on the
 * injected clock: a replica that dies mid-chunk leaves a hold that lapses, and the client can
 * go on at another replica after that. While a long chunk streams the hold is renewed every
 * third of the TTL (a real timer: renewals are about this process being alive, not about the
 * clock's reading). A renewal that fails (the index is unreachable for longer than the TTL,
 * or someone took the lapsed hold) aborts the write: a request that may no longer hold the
 * session must not go on writing to it.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../primitives/clock.js';
import { RegistryError } from '../primitives/errors.js';
import type { RegistryIndex } from '../storage/registry-index.js';

export interface ClaimSettings {
  /** How long a hold lasts without renewal, in ms. */
  ttlMs: number;
  /** Names this replica in the holder id (seen in the index's claimed_by column). */
  holderPrefix: string;
}

export const DEFAULT_CLAIM: ClaimSettings = { ttlMs: 30_000, holderPrefix: 'keel' };

/** The session is being written by another request: the client should retry once that one ends. */
export function uploadBusy(id: string): RegistryError {
  return new RegistryError(
    'BLOB_UPLOAD_INVALID',
    'another request is writing to this upload session (on this replica or another); retry once it has finished, after checking the offset with GET',
    { id },
    416,
  );
}

/** The hold was lost mid-request (see the header); the chunk was not stored. */
export function claimLost(id: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_INVALID', 'this request lost its hold on the upload session (the index did not answer in time); the chunk was not stored, check the offset with GET and retry', { id }, 416);
}

/**
 * Runs `work` holding the session; false from `claim` when another request holds it.
 * `work` gets a signal that aborts when the hold is lost.
 */
export async function withUploadClaim<T>(
  index: RegistryIndex,
  clock: Clock,
  settings: ClaimSettings,
  id: string,
  work: (lost: AbortSignal) => Promise<T>,
): Promise<{ claimed: false } | { claimed: true; value: T }> {
  const holder = `${settings.holderPrefix}/${randomUUID()}`;
  const now = clock.now();
  if (!(await index.claimUpload(id, holder, now + settings.ttlMs, now))) return { claimed: false };
  const lost = new AbortController();
  let renewing = false;
  const timer = setInterval(() => {
    if (renewing || lost.signal.aborted) return;
    renewing = true;
    const at = clock.now();
    index
      .claimUpload(id, holder, at + settings.ttlMs, at)
      .then((held) => {
        if (!held) lost.abort(claimLost(id));
      })
      // One failed renewal is not yet a lost hold: the hold is good until its expiry, and the next tick tries again.
      .catch(() => undefined)
      .finally(() => (renewing = false));
  }, Math.max(100, Math.floor(settings.ttlMs / 3)));
  timer.unref();
  try {
    return { claimed: true, value: await work(lost.signal) };
  } finally {
    clearInterval(timer);
    // A release that fails leaves a hold that lapses after ttlMs: nothing more to do here.
    await index.releaseUpload(id, holder).catch(() => undefined);
  }
}
