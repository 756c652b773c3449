/**
 * The summary of the last completed (not dry) GC run, kept next to the index so the server
 * can report it on /metrics: `<database>.gc-last.json`.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { GcSummary } from './summary.js';

export interface LastGcRun extends GcSummary {
  finishedAt: number;
}

export function lastRunPath(database: string): string {
  return `${database}.gc-last.json`;
}

export async function writeLastRun(database: string, run: LastGcRun): Promise<void> {
  const path = lastRunPath(database);
  await writeFile(`${path}.tmp`, JSON.stringify(run));
  await rename(`${path}.tmp`, path);
}

export async function readLastRun(database: string): Promise<LastGcRun | undefined> {
  try {
    return JSON.parse(await readFile(lastRunPath(database), 'utf8')) as LastGcRun;
  } catch {
    return undefined;
  }
}
