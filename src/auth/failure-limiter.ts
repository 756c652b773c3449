/**
 * Limits failed sign-ins per key (a client address, a user name) in a fixed window on the
 * injected clock. An attempt counts as a failure from the moment it starts, and is taken
 * back when it succeeds: a burst of concurrent wrong passwords is capped too, not only the
 * ones that have already failed. A key over its limit is refused, without any bcrypt work,
 * until its window ends. Unknown user names count like known ones, so the limit says
 * nothing about which names exist. Counters live in a bounded LRU: a flood of made-up
 * names evicts old counters rather than growing memory.
 */
import { LRUCache } from 'lru-cache';
import type { Clock } from '../primitives/clock.js';

interface Counter {
  windowStart: number;
  failures: number;
}

export interface LimitedKey {
  /** Which limit: "client" or "user". */
  kind: string;
  key: string;
  max: number;
}

/** An attempt in progress: `succeeded()` takes its failure back. */
export interface Attempt {
  succeeded(): void;
}

export type AttemptResult = { allowed: true; attempt: Attempt } | { allowed: false; retryAfterMs: number };

export class FailureLimiter {
  private readonly counters = new LRUCache<string, Counter>({ max: 50_000 });

  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
  ) {}

  /** Starts an attempt under every key, or says how long until the first blocked key frees up. */
  begin(keys: readonly LimitedKey[]): AttemptResult {
    const now = this.clock.now();
    const counters = keys.map((k) => ({ id: `${k.kind}\n${k.key}`, max: k.max, counter: this.current(`${k.kind}\n${k.key}`, now) }));
    let retryAfterMs = 0;
    for (const { max, counter } of counters) {
      if (max > 0 && counter.failures >= max) retryAfterMs = Math.max(retryAfterMs, counter.windowStart + this.windowMs - now);
    }
    if (retryAfterMs > 0) return { allowed: false, retryAfterMs };
    for (const { id, counter } of counters) {
      counter.failures += 1;
      this.counters.set(id, counter);
    }
    let done = false;
    return {
      allowed: true,
      attempt: {
        succeeded: () => {
          if (done) return;
          done = true;
          for (const { counter } of counters) {
            // Only within the window it was counted in: a new window started from zero.
            if (counter.failures > 0) counter.failures -= 1;
          }
        },
      },
    };
  }

  private current(id: string, now: number): Counter {
    const counter = this.counters.get(id);
    if (counter && now < counter.windowStart + this.windowMs) return counter;
    return { windowStart: now, failures: 0 };
  }
}
