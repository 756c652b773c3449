/**
 * What the UI's status page and GET /api/v1/status show of this server: its version, the
 * replica, when it started and for how long it has run (by the injected clock), the bytes
 * each store holds (the index's totals, the same figures as keel_store_bytes), and the last
 * completed GC run with what it freed.
 */
import type { LastGcRun } from './gc/last-run.js';
import type { Clock } from './primitives/clock.js';
import type { StoreStats } from './storage/store-stats.js';

export interface StatusReport {
  version: string;
  node: string;
  replica: string;
  startedAt: string;
  uptimeSeconds: number;
  /** The index, named without any password. */
  database: string;
  stores: { registry: { location: string; bytes: number }; proxy: { location: string; bytes: number } };
  lastGc:
    | {
        finishedAt: string;
        durationSeconds: number;
        /** Per store: what the run deleted and the bytes it freed. */
        stores: Array<{ store: string; blobs: number; manifests: number; tags: number; bytes: number }>;
      }
    | undefined;
}

export interface ServerStatusDeps {
  version: string;
  replica: string;
  database: string;
  locations: { registry: string; proxy: string };
  stats: StoreStats;
  lastGcRun: () => Promise<LastGcRun | undefined>;
  clock: Clock;
}

export class ServerStatus {
  private readonly startedAt: number;

  constructor(private readonly deps: ServerStatusDeps) {
    this.startedAt = deps.clock.now();
  }

  async report(): Promise<StatusReport> {
    const { deps } = this;
    const [bytes, gc] = await Promise.all([deps.stats.storeBytes(), deps.lastGcRun()]);
    return {
      version: deps.version,
      node: process.version,
      replica: deps.replica,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSeconds: Math.max(0, Math.floor((deps.clock.now() - this.startedAt) / 1000)),
      database: deps.database,
      stores: { registry: { location: deps.locations.registry, bytes: bytes.registry }, proxy: { location: deps.locations.proxy, bytes: bytes.proxy } },
      lastGc:
        gc === undefined
          ? undefined
          : {
              finishedAt: new Date(gc.finishedAt).toISOString(),
              durationSeconds: Math.round(gc.durationMs / 100) / 10,
              stores: gc.stores.map((s) => ({ store: s.store, blobs: s.blobs, manifests: s.manifests, tags: s.tags, bytes: s.bytes })),
            },
    };
  }
}
