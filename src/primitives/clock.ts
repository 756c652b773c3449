/** Time as the rest of the code sees it: injected, so expiry logic is testable without sleeps. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
