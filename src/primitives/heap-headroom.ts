/**
 * Room for garbage in V8's old generation, only while bulk downloads run.
 *
 * A proxy download allocates two ArrayBuffers per 64 KiB the upstream sends (the socket's read
 * and the HTTP parser's copy of the body chunk), and V8 counts them against the room it leaves
 * after a full GC. Below a 2 GiB heap limit V8 scales its heap-growing factor down (1.3x under
 * scripts/keel's 256 MiB), so with Keel's ~22 MiB that survive a full GC a 512 MiB cold miss
 * ran 34-52 of them: about half of the miss's 4-4.9 CPU-s. A factor of 3
 * (`--heap-growing-percent=200`) brought that to 2 full GCs and 2.2-2.7 CPU-s per miss.
 *
 * The same factor held from start to end (it was a scripts/keel flag until 2026-12-03) let
 * every other workload keep that much more garbage too: with 300 slow clients on one cached
 * blob, 201 MiB of peak RSS against 168 without it. So the factor is raised while at least
 * one download holds it and set back to V8's own (`0`: computed) when the last one ends.
 * V8 reads the flag each time it sets the next full GC's limit, on Node 20 (V8 11.3) and
 * Node 24 (13.6) alike; `v8.setFlagsFromString` is how Node changes it in a running process.
 *
 * A node started with `--heap-growing-percent` of its own (an operator's choice) keeps it:
 * nothing is changed then.
 */
import { setFlagsFromString } from 'node:v8';

export interface HeapHeadroom {
  /** Raises the factor until the returned function is called (once is enough; more are ignored). */
  hold(): () => void;
}

/** V8's factor while any holder needs it: 1 + 200/100 = 3x what survived the last full GC. */
export const DOWNLOAD_HEAP_GROWING_PERCENT = 200;

const FLAG = '--heap-growing-percent';

export class V8HeapHeadroom implements HeapHeadroom {
  private holders = 0;
  /** The node was started with the flag: an operator's setting, left alone. */
  private readonly fixed: boolean;

  constructor(
    private readonly percent: number = DOWNLOAD_HEAP_GROWING_PERCENT,
    private readonly setFlags: (flags: string) => void = setFlagsFromString,
    execArgv: readonly string[] = process.execArgv,
  ) {
    // V8 takes its flags with dashes or underscores, the value after `=` or as the next argument.
    this.fixed = execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
  }

  hold(): () => void {
    if (this.fixed) return () => undefined;
    if (this.holders++ === 0) this.setFlags(`${FLAG}=${this.percent}`);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holders === 0) this.setFlags(`${FLAG}=0`);
    };
  }

  /** Holders now (for tests). */
  get held(): number {
    return this.holders;
  }
}

/** The process's one: the flag is process-wide, so its holders are counted in one place (services.ts). */
export const v8HeapHeadroom = new V8HeapHeadroom();

/** Leaves V8's factor as it is (tests and tools that build a fetcher of their own). */
export const noHeapHeadroom: HeapHeadroom = { hold: () => () => undefined };
