/**
 * GC's last-moment question before each file removal (BlobSweeper.removeUnwanted's `wanted`:
 * does the index know this digest again?), asked one digest at a time and answered with one
 * index query for all the digests asked in the same turn of the event loop.
 *
 * A removal asks once per file, a million times on a large proxy cache; the files' steps come
 * back from the sweeper together (fs/sweep-worker.ts), so their questions do too. On PostgreSQL
 * that is one round trip for a turn's files instead of one each.
 */
export type KnownQuery = (digests: readonly string[]) => Promise<ReadonlySet<string>>;

export function coalescedKnown(known: KnownQuery): (digest: string) => Promise<boolean> {
  let asked: Array<{ digest: string; resolve(known: boolean): void; reject(error: unknown): void }> = [];
  let scheduled = false;
  const ask = (): void => {
    scheduled = false;
    const batch = asked;
    asked = [];
    known([...new Set(batch.map((a) => a.digest))]).then(
      (found) => {
        for (const a of batch) a.resolve(found.has(a.digest));
      },
      (err: unknown) => {
        for (const a of batch) a.reject(err);
      },
    );
  };
  return (digest) =>
    new Promise((resolve, reject) => {
      asked.push({ digest, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(ask);
      }
    });
}
