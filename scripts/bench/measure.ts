/** Small measuring helpers shared by the workloads. */
import { createReadStream } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
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

/** Whether this process may drop the kernel's clean page cache (root only). */
export function canDropCaches(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Puts the machine in the same state before every timed push: dirty pages flushed, then (as
 * root) the clean page cache dropped, then the client's source file read back into it.
 *
 * Why drop the cache: on this VM, writing new page cache slows down as the cache fills. The
 * same 512 MiB buffered write (dd, no fsync) took 1.1-1.5 s with 17 GiB of cache, 0.35 s
 * with 12 GiB and 0.15-0.19 s right after dropping it, and single 64 MiB pushes of one build
 * ranged from 240 to 455 MiB/s between runs: the figures followed the cache, not the server.
 */
export async function settleBeforePush(sourceFile?: string): Promise<void> {
  await syncDisks();
  if (!canDropCaches()) return;
  await writeFile('/proc/sys/vm/drop_caches', '1');
  if (sourceFile !== undefined) for await (const _ of createReadStream(sourceFile, { highWaterMark: MiB })) void _;
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
