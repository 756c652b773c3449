/**
 * `GET /health`: the process is up. `GET /ready`: the index answers, every storage root
 * takes a write (a probe file created and removed), and no write has found the disk full
 * since it last had room (disk-full-watch.ts: an empty probe file still fits on a full
 * disk); 503 with the reasons otherwise. Neither
 * needs authentication, so load balancers and orchestrators can call them.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import express, { type Router } from 'express';
import type { DiskFullWatch } from '../../storage/disk-full-watch.js';
import type { StoreStats } from '../../storage/sqlite-stats.js';

export function healthRouter(stats: StoreStats, roots: Record<string, string>, diskFull?: DiskFullWatch): Router {
  const router = express.Router();
  router.get('/health', (_req, res) => {
    res.status(200).json({ status: 'healthy' });
  });
  router.get('/ready', async (_req, res) => {
    const problems: string[] = [];
    if (!stats.ping()) problems.push('index: not answering');
    for (const [name, root] of Object.entries(roots)) {
      const probe = join(root, `.ready-${randomUUID()}`);
      try {
        await mkdir(root, { recursive: true });
        await writeFile(probe, '');
        await unlink(probe);
      } catch (err) {
        problems.push(`${name}: not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    if (diskFull) {
      try {
        problems.push(...(await diskFull.problems()));
      } catch (err) {
        problems.push(`storage: free space unknown (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    res.status(problems.length === 0 ? 200 : 503).json(problems.length === 0 ? { status: 'ready' } : { status: 'not ready', problems });
  });
  return router;
}
