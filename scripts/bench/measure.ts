/** Small measuring helpers shared by the workloads. */
import { access } from 'node:fs/promises';
import { run } from '../../test/support/e2e/run.js';
import { MiB } from './settings.js';
import { benchToolPath } from './tools.js';

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function mibPerSecond(bytes: number, ms: number): number {
  return bytes / MiB / (ms / 1000);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Flushes dirty pages to disk before a timed write, so one server's unsynced writes are not
 * paid for by the next server's fsync.
 */
export async function syncDisks(): Promise<void> {
  await run(benchToolPath('sync'), [], { timeoutMs: 120_000 });
}

/** Waits until a file exists (a pull-through copy landing in a cache, say). */
export async function waitForFile(path: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await access(path);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
      await sleep(50);
    }
  }
}
