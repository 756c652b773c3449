/**
 * Request counts and byte totals summed in plain numbers per (route, method, status) and
 * handed to the Prometheus counters when they are collected (a scrape), instead of three
 * prom-client increments per request: those built and hashed a label set each time, and
 * recording metrics was ~10% of the CPU of a manifest GET under load. The totals a scrape
 * sees are exact; only the work moves from every request to every scrape.
 */
export interface RequestTotals {
  route: string;
  method: string;
  status: string;
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

/** Label sets kept apart at most; past this (a client inventing methods) they are flushed early. */
const MAX_KEYS = 2000;

/** Totals by route, then method, then status: nested maps, so a request builds no key string. */
type Totals = Map<string, Map<string, Map<number, RequestTotals>>>;

export class RequestTally {
  private readonly totals: Totals = new Map();
  private keys = 0;

  constructor(private readonly flush: (totals: RequestTotals) => void) {}

  add(route: string, method: string, status: number, bytesIn: number, bytesOut: number): void {
    const t = this.totalsOf(route, method, status);
    t.requests++;
    t.bytesIn += bytesIn;
    t.bytesOut += bytesOut;
  }

  private totalsOf(route: string, method: string, status: number): RequestTotals {
    const existing = this.totals.get(route)?.get(method)?.get(status);
    if (existing !== undefined) return existing;
    if (this.keys >= MAX_KEYS) this.drain();
    let byMethod = this.totals.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.totals.set(route, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    const t = { route, method, status: String(status), requests: 0, bytesIn: 0, bytesOut: 0 };
    byStatus.set(status, t);
    this.keys++;
    return t;
  }

  /** Hands every non-zero total to `flush` and starts again from zero. */
  drain(): void {
    for (const byMethod of this.totals.values()) {
      for (const byStatus of byMethod.values()) for (const t of byStatus.values()) if (t.requests > 0) this.flush({ ...t });
    }
    this.totals.clear();
    this.keys = 0;
  }
}
