/**
 * One piece of work per key at a time: a caller that asks for a key already in flight gets
 * the same promise (success or failure), so concurrent cache misses make one upstream
 * request. The key is free again when the work settles, or, with `hold`, when what it
 * produced is finished (a download that is handed out while it still runs), or earlier when
 * the worker calls `leave` (work known to have failed must not be handed to a caller that
 * asks after that: it starts new work).
 */
export class SingleFlight<T> {
  private readonly inflight = new Map<string, Promise<T>>();
  /** Work started, and callers that joined work already in flight (for tests and metrics). */
  started = 0;
  joined = 0;

  constructor(private readonly onJoin: () => void = () => undefined) {}

  /** The keys with work in flight. */
  keys(): IterableIterator<string> {
    return this.inflight.keys();
  }

  /** The work in flight for `key`, if any. */
  current(key: string): Promise<T> | undefined {
    return this.inflight.get(key);
  }

  run(key: string, work: () => Promise<T>, hold?: (value: T) => Promise<unknown>): Promise<T> {
    const running = this.inflight.get(key);
    if (running) {
      this.joined++;
      this.onJoin();
      return running;
    }
    this.started++;
    const promise = work();
    this.inflight.set(key, promise);
    promise
      .then((value) => hold?.(value))
      .catch(() => undefined)
      .finally(() => this.leave(key, promise));
    return promise;
  }

  /**
   * Frees `key` if `promise` still holds it; never the work started after an earlier leave,
   * which would let a second piece of work for the key run beside it.
   */
  leave(key: string, promise: Promise<T>): void {
    if (this.inflight.get(key) === promise) this.inflight.delete(key);
  }
}
