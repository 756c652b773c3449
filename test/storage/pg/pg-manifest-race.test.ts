// The race putManifest's re-check closes on PostgreSQL, played out step by step on a real
// server: GC's link delete has run (its NOT EXISTS saw no reference) but not committed when
// a manifest PUT re-checks that link and writes a reference to it. With both SERIALIZABLE
// (PgRegistryIndex, and GC's batches) one of the two is aborted, whichever order they
// commit in: never a manifest whose blob link is gone. With GC in READ COMMITTED the same
// steps lose the link under a live manifest: why GC's deletes must be SERIALIZABLE too.
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

/** Plays the race with GC's transaction at `isolation`; `gcCommitsFirst` orders the two commits. */
async function race(isolation: 'SERIALIZABLE' | 'READ COMMITTED', gcCommitsFirst: boolean): Promise<Outcome> {
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
    const commitGc = async (): Promise<void> => {
      gcCommitted = await gc.query('COMMIT').then(
        (res) => res.command === 'COMMIT',
        async (err: { code?: string }) => {
          expect(err.code).toBe('40001');
          await gc.query('ROLLBACK');
          return false;
        },
      );
    };
    if (gcCommitsFirst) await commitGc();
    const put = await index
      .putManifest(REPO, { digest: MANIFEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 10, artifactType: null, subject: null, annotations: null }, [{ digest: LAYER, kind: 'blob' }], 'v1' as Tag, 3000)
      .then(
        (missing) => (missing === undefined ? ('stored' as const) : ('refused' as const)),
        (err: { status?: number }) => {
          // The bounded retry gave up while GC's transaction stayed open: a 503 for the client.
          expect(err.status).toBe(503);
          return 'busy' as const;
        },
      );
    if (!gcCommitsFirst) await commitGc();
    return {
      put,
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
    const outcome = await race('SERIALIZABLE', true);
    expect(outcome).toEqual({ put: 'refused', gcCommitted: true, manifestThere: false, linkThere: false });
  });

  test('the PUT commits while GC (SERIALIZABLE) is still open: GC is aborted and the link stays', async () => {
    const outcome = await race('SERIALIZABLE', false);
    // Never a manifest without its link; and whichever side lost, nothing half-done.
    expect(outcome.manifestThere && !outcome.linkThere).toBe(false);
    expect(outcome).toEqual({ put: 'stored', gcCommitted: false, manifestThere: true, linkThere: true });
  });

  test('why GC must be SERIALIZABLE: in READ COMMITTED the same steps leave a manifest without its link', async () => {
    const outcome = await race('READ COMMITTED', false);
    expect(outcome).toEqual({ put: 'stored', gcCommitted: true, manifestThere: true, linkThere: false });
  });
});
