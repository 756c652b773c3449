// The race putManifest's re-check closes on PostgreSQL, played out step by step on a real
// server: GC's link delete has run (its NOT EXISTS saw no reference) but not committed when
// a manifest PUT re-checks that link and writes a reference to it. Never a manifest whose
// blob link is gone, whichever way it goes:
//   - GC committed first: the PUT re-checks, finds the link gone and is refused;
//   - GC still open: the PUT waits for it, since both write the repository's row of figures
//     (migration 010's triggers: the link delete takes bytes off it, the manifest adds to it).
//     Once GC commits, the PUT (SERIALIZABLE, retried on the conflict) finds the link gone
//     and is refused, in READ COMMITTED GC as well; once GC rolls back, the PUT stores.
// The test sees the PUT waiting in pg_locks before it lets GC end: no timing.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import pg from 'pg';
import { systemClock } from '../../../src/primitives/clock.js';
import type { Digest, RepoName, Tag } from '../../../src/primitives/types.js';
import { migratePg } from '../../../src/storage/pg/pg-migrations.js';
import { PgPool } from '../../../src/storage/pg/pg-pool.js';
import { PgRegistryIndex } from '../../../src/storage/pg/pg-registry-index.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';

jest.setTimeout(120_000);

const REPO = 'app' as RepoName;
const LAYER = `sha256:${'1'.repeat(64)}` as Digest;
const MANIFEST = `sha256:${'2'.repeat(64)}` as Digest;

/** GC's link delete as GC states it (the condition of sqlite-gc-queries.ts UNREFERENCED_LINK). */
const GC_DELETE_LINK = `
  DELETE FROM repository_blobs AS rb WHERE rb.repository_id = (SELECT id FROM repositories WHERE name = $1) AND rb.digest = $2
    AND rb.created_at < $3
    AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.repository_id = rb.repository_id AND mr.child_digest = rb.digest AND mr.kind = 'blob')
    AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = rb.repository_id AND m.digest = rb.digest)`;

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

interface Outcome {
  put: 'stored' | 'refused' | 'busy';
  gcCommitted: boolean;
  manifestThere: boolean;
  linkThere: boolean;
}

/** Resolves once some backend waits for a lock (the PUT, blocked behind GC's transaction). */
async function someoneWaits(gc: pg.Client): Promise<void> {
  for (let waited = 0; ; waited += 20) {
    const { rows } = await gc.query<{ n: string }>('SELECT count(*) AS n FROM pg_locks WHERE NOT granted');
    if (Number(rows[0]?.n ?? 0) > 0) return;
    if (waited >= 60_000) throw new Error('the PUT never waited for GC\'s transaction');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Plays the race with GC's transaction at `isolation`. `gcEnds`: GC commits before the PUT
 * starts ('commit-first'), or commits / rolls back once the PUT waits for it.
 */
async function race(isolation: 'SERIALIZABLE' | 'READ COMMITTED', gcEnds: 'commit-first' | 'commit' | 'rollback'): Promise<Outcome> {
  const url = await server.createDatabase();
  const pool = new PgPool(url, { max: 4 });
  const gc = new pg.Client({ connectionString: url });
  try {
    await migratePg(pool, systemClock);
    const index = new PgRegistryIndex(pool);
    await index.linkBlob(REPO, LAYER, 100, 1000);
    await gc.connect();
    await gc.query(`BEGIN ISOLATION LEVEL ${isolation}`);
    expect((await gc.query(GC_DELETE_LINK, [REPO, LAYER, 2000])).rowCount).toBe(1);
    let gcCommitted = false;
    const endGc = async (how: 'commit' | 'rollback'): Promise<void> => {
      if (how === 'rollback') {
        await gc.query('ROLLBACK');
        return;
      }
      gcCommitted = await gc.query('COMMIT').then(
        (res) => res.command === 'COMMIT',
        async (err: { code?: string }) => {
          expect(err.code).toBe('40001');
          await gc.query('ROLLBACK');
          return false;
        },
      );
    };
    if (gcEnds === 'commit-first') await endGc('commit');
    const put = index
      .putManifest(REPO, { digest: MANIFEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 10, artifactType: null, subject: null, annotations: null }, [{ digest: LAYER, kind: 'blob' }], 'v1' as Tag, 3000)
      .then(
        (missing) => (missing === undefined ? ('stored' as const) : ('refused' as const)),
        (err: { status?: number }) => {
          // The bounded retry gave up: a 503 for the client.
          expect(err.status).toBe(503);
          return 'busy' as const;
        },
      );
    if (gcEnds !== 'commit-first') {
      await someoneWaits(gc);
      await endGc(gcEnds);
    }
    const outcome = await put;
    return {
      put: outcome,
      gcCommitted,
      manifestThere: (await index.getManifest(REPO, MANIFEST)) !== undefined,
      linkThere: (await index.repositoryBlobSize(REPO, LAYER)) !== undefined,
    };
  } finally {
    await gc.end().catch(() => undefined);
    await pool.end();
  }
}

describe('putManifest against a concurrent GC link delete on PostgreSQL', () => {
  test('GC (SERIALIZABLE) committed its delete before the PUT: the PUT re-checks, finds the link gone and is refused', async () => {
    const outcome = await race('SERIALIZABLE', 'commit-first');
    expect(outcome).toEqual({ put: 'refused', gcCommitted: true, manifestThere: false, linkThere: false });
  });

  test('the PUT comes while GC (SERIALIZABLE) is still open: it waits, and once GC commits it finds the link gone and is refused', async () => {
    const outcome = await race('SERIALIZABLE', 'commit');
    // Never a manifest without its link; and whichever side lost, nothing half-done.
    expect(outcome.manifestThere && !outcome.linkThere).toBe(false);
    expect(outcome).toEqual({ put: 'refused', gcCommitted: true, manifestThere: false, linkThere: false });
  });

  test('GC in READ COMMITTED is held back the same way: the waiting PUT is refused, no manifest loses its link', async () => {
    const outcome = await race('READ COMMITTED', 'commit');
    expect(outcome).toEqual({ put: 'refused', gcCommitted: true, manifestThere: false, linkThere: false });
  });

  test('GC rolled back while the PUT waits: the PUT stores, and the link stays', async () => {
    const outcome = await race('SERIALIZABLE', 'rollback');
    expect(outcome).toEqual({ put: 'stored', gcCommitted: false, manifestThere: true, linkThere: true });
  });
});
