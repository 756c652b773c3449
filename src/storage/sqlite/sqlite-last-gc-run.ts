/**
 * The last GC run's record beside a SQLite index: `<database>.gc-last.json`, written to a
 * temporary file and renamed into place, so a scrape never reads half of it.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { LastGcRunStore } from '../last-gc-run.js';

export function lastRunPath(database: string): string {
  return `${database}.gc-last.json`;
}

export class FileLastGcRun implements LastGcRunStore {
  constructor(
    private readonly database: string,
    /** A dry run's: writing is refused, as its read-only database refuses it. */
    private readonly options: { readonly?: boolean } = {},
  ) {}

  async read(): Promise<unknown> {
    // An in-memory index (tests) has no file beside it.
    if (this.database === ':memory:' || this.database === '') return undefined;
    try {
      return JSON.parse(await readFile(lastRunPath(this.database), 'utf8')) as unknown;
    } catch {
      // Missing (no run yet) or unreadable: the metrics say "never", as before.
      return undefined;
    }
  }

  async write(run: object): Promise<void> {
    if (this.options.readonly) throw new Error(`the index ${this.database} is open read-only: the last GC run is not recorded`);
    const path = lastRunPath(this.database);
    await writeFile(`${path}.tmp`, JSON.stringify(run));
    await rename(`${path}.tmp`, path);
  }
}
