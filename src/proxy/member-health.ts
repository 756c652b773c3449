/**
 * Back-off for upstreams that fail: a member that was unreachable, timed out or answered 5xx
 * is skipped for the back-off period instead of adding its timeout to every pull, then
 * tried again. Reads the injected clock. It also keeps, per member, its last failure and its
 * last success, for the UI's proxy page and /api/v1/upstreams (this process's view).
 */
import type { Clock } from '../primitives/clock.js';

export interface MemberState {
  /** Skipped by groups until then (ms since the epoch); undefined when not backed off. */
  backedOffUntil: number | undefined;
  lastFailure: { at: number; message: string } | undefined;
  lastSuccessAt: number | undefined;
}

export class MemberHealth {
  private readonly downUntil = new Map<string, number>();
  private readonly lastFailure = new Map<string, { at: number; message: string }>();
  private readonly lastSuccess = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly backoffMs: number,
  ) {}

  isBackedOff(member: string): boolean {
    const until = this.downUntil.get(member);
    if (until === undefined) return false;
    if (this.clock.now() < until) return true;
    this.downUntil.delete(member);
    return false;
  }

  failed(member: string, message = 'failed'): void {
    const now = this.clock.now();
    this.lastFailure.set(member, { at: now, message });
    if (this.backoffMs > 0) this.downUntil.set(member, now + this.backoffMs);
  }

  /** An answer that is the upstream's refusal (401, 403, 429): recorded, not backed off. */
  refused(member: string, message: string): void {
    this.lastFailure.set(member, { at: this.clock.now(), message });
  }

  succeeded(member: string): void {
    this.downUntil.delete(member);
    this.lastSuccess.set(member, this.clock.now());
  }

  state(member: string): MemberState {
    return { backedOffUntil: this.isBackedOff(member) ? this.downUntil.get(member) : undefined, lastFailure: this.lastFailure.get(member), lastSuccessAt: this.lastSuccess.get(member) };
  }
}
