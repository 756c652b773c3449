/**
 * `GET /health`: the process is up. `GET /ready`: the index answers, every storage backend
 * says it can serve reads and writes (its ready(): the filesystem driver writes and removes
 * a probe file in each of its roots), and no write has found the disk full since it last had
 * room (disk-full-watch.ts: an empty probe file still fits on a full disk); 503 with the
 * reasons otherwise. Neither needs authentication, so load balancers and orchestrators can
 * call them.
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

export function healthRouter(stats: StoreStats, backends: Readonly<Record<string, StorageBackend>>, diskFull?: DiskFullWatch): Router {
  const router = express.Router();
  router.get('/health', (_req, res) => {
    res.status(200).json({ status: 'healthy' });
  });
  router.get('/ready', async (_req, res) => {
    // A set: backends may share a root (the temporary root), whose problem is said once.
    const problems = new Set<string>();
    if (!(await stats.ping())) problems.add('index: not answering');
    const checks = await Promise.allSettled(Object.values(backends).map((b) => b.ready()));
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
