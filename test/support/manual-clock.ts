/** A clock tests move by hand, so expiry (tag TTL, tokens) needs no sleeping. */
import type { Clock } from '../../src/primitives/clock.js';

export class ManualClock implements Clock {
  constructor(private current = Date.now()) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    this.current += ms;
  }
}
