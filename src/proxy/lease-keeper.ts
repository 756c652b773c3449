/**
 * A replica's hold on one download lease (storage/download-leases.ts): claimed before the
 * upstream is asked, renewed while the download runs, given up when it is stored or failed.
 * A replica that dies stops renewing, and after the TTL another replica may take over. The
 * expiry is read from the injected clock; only the renewal's rhythm is a timer (injectable).
 */
import type { Logger } from 'pino';
import type { Clock } from '../primitives/clock.js';
import type { DownloadLease, DownloadLeases } from '../storage/download-leases.js';

/** Runs `tick` every `ms` until the returned function is called. */
export type Every = (ms: number, tick: () => void) => () => void;

export const intervalTimer: Every = (ms, tick) => {
  const timer = setInterval(tick, ms);
  // A renewal never keeps a process alive on its own.
  timer.unref();
  return () => clearInterval(timer);
};

export interface LeaseDeps {
  leases: DownloadLeases;
  clock: Clock;
  logger: Logger;
  /** This process: replica name plus a per-process nonce (peer-identity.ts). */
  holder: string;
  /** Where this process serves its downloads to the other replicas. */
  holderUrl: () => string;
  ttlMs: number;
  renewMs: number;
  every?: Every;
}

export type Claimed = { won: true; keeper: LeaseKeeper } | { won: false; current: DownloadLease };

export async function claimLease(deps: LeaseDeps, key: string): Promise<Claimed> {
  const claim = await deps.leases.claim(key, deps.holder, deps.holderUrl(), deps.ttlMs, deps.clock.now());
  return claim.won ? { won: true, keeper: new LeaseKeeper(deps, key) } : claim;
}

export class LeaseKeeper {
  /** Set once a renewal found the lease taken by another replica (this one was too slow). */
  lost = false;
  private readonly stop: () => void;
  private renewing: Promise<boolean> | undefined;

  constructor(
    private readonly deps: LeaseDeps,
    readonly key: string,
  ) {
    this.stop = (deps.every ?? intervalTimer)(deps.renewMs, () => void this.renew());
  }

  /** Extends the lease to now + TTL; false (and `lost`) when another replica holds it now. */
  renew(): Promise<boolean> {
    // One renewal at a time: a slow index must not pile them up.
    this.renewing ??= this.deps.leases
      .renew(this.key, this.deps.holder, this.deps.ttlMs, this.deps.clock.now())
      .then(
        (held) => {
          if (!held && !this.lost) {
            this.lost = true;
            this.deps.logger.warn({ lease: this.key }, 'download lease lost to another replica (renewed too late); the download goes on here');
          }
          return held;
        },
        (err: unknown) => {
          // The next tick tries again; the lease lasts a TTL, several renewals.
          this.deps.logger.warn({ lease: this.key, error: (err as Error).message }, 'could not renew a download lease');
          return !this.lost;
        },
      )
      .finally(() => {
        this.renewing = undefined;
      });
    return this.renewing;
  }

  /** Stops renewing and gives the lease up (only if still ours). */
  async release(): Promise<void> {
    this.stop();
    try {
      await this.deps.leases.release(this.key, this.deps.holder);
    } catch (err) {
      // It expires on its own after the TTL.
      this.deps.logger.warn({ lease: this.key, error: (err as Error).message }, 'could not release a download lease');
    }
  }
}
