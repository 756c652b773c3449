/**
 * Back-off for upstreams that fail: a member that was unreachable, timed out or answered 5xx
 * is skipped for the back-off period instead of adding its timeout to every pull, then
 * tried again. Reads the injected clock.
 */
import type { Clock } from '../primitives/clock.js';

export class MemberHealth {
  private readonly downUntil = new Map<string, number>();

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

  failed(member: string): void {
    if (this.backoffMs > 0) this.downUntil.set(member, this.clock.now() + this.backoffMs);
  }

  succeeded(member: string): void {
    this.downUntil.delete(member);
  }
}
