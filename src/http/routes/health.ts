/**
 * `GET /health`: the process is up. `GET /ready`: the index answers, every storage backend
 * says it can serve reads and writes (its ready(): the filesystem driver writes and removes
 * a probe file in each of its roots), and no write has found the disk full since it last had
 * room (disk-full-watch.ts: an empty probe file still fits on a full disk); 503 with the
 * reasons otherwise. Each problem names what failed: the database (its path, or a PostgreSQL
 * URL without credentials), the storage setting and its root or bucket. A check that does not
 * answer within `timeoutMs` counts as failed (a database host that stopped answering holds a
 * query open rather than refusing it): /ready answers in bounded time, as a load balancer's
 * probe expects. Neither needs authentication, so load balancers and orchestrators can call them.
 */
import express, { type Router } from 'express';
import type { StorageBackend } from '../../storage/backend.js';
import type { DiskFullWatch } from '../../storage/disk-full-watch.js';
import type { StoreStats } from '../../storage/store-stats.js';

/** The reasons a backend's ready() gave: one per problem (an AggregateError holds several). */
function reasons(err: unknown): string[] {
  if (err instanceof AggregateError) return err.errors.map((e: unknown) => (e as Error).message);
  return [(err as Error).message];
}

export interface ReadyOptions {
  /** The index as problems name it ('database "storage/index.db"'). */
  indexName?: string;
  /** The backends as problems name them, by their key in `backends` ('registry_storage "s3://b/registry"'). */
  storeNames?: Readonly<Record<string, string>>;
  /** How long each check may take before it counts as failed. */
  timeoutMs?: number;
}

/** Readiness checks wait this long by default: well below a usual probe timeout, far above a healthy answer. */
export const READY_TIMEOUT_MS = 5000;

class NoAnswer extends Error {}

/** `check`, or a NoAnswer after `ms`. */
function within<T>(check: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new NoAnswer(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([check, late]).finally(() => clearTimeout(timer));
}

export function healthRouter(stats: StoreStats, backends: Readonly<Record<string, StorageBackend>>, diskFull?: DiskFullWatch, options: ReadyOptions = {}): Router {
  const indexName = options.indexName ?? 'index';
  const timeoutMs = options.timeoutMs ?? READY_TIMEOUT_MS;
  const router = express.Router();
  router.get('/health', (_req, res) => {
    res.status(200).json({ status: 'healthy' });
  });
  router.get('/ready', async (_req, res) => {
    // A set: backends may share a root (the temporary root), whose problem is said once.
    const problems = new Set<string>();
    const ready = (name: string, backend: StorageBackend): Promise<void> =>
      within(backend.ready(), timeoutMs).catch((err: unknown) => {
        throw err instanceof NoAnswer ? new Error(`${options.storeNames?.[name] ?? `${name} storage`}: ${err.message}`) : err;
      });
    const [ping, ...checks] = await Promise.allSettled([within(stats.ping(), timeoutMs), ...Object.entries(backends).map(([name, b]) => ready(name, b))]);
    if (ping?.status === 'rejected') problems.add(`${indexName}: ${(ping.reason as Error).message}`);
    else if (ping?.value !== true) problems.add(`${indexName}: not answering`);
    for (const check of checks) if (check.status === 'rejected') for (const reason of reasons(check.reason)) problems.add(reason);
    if (diskFull) {
      try {
        for (const problem of await diskFull.problems()) problems.add(problem);
      } catch (err) {
        problems.add(`storage: free space unknown (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    res.status(problems.size === 0 ? 200 : 503).json(problems.size === 0 ? { status: 'ready' } : { status: 'not ready', problems: [...problems] });
  });
  return router;
}
