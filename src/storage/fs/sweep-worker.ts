/**
 * The file steps of GC's removals (fs-blob-sweeper.ts) on a worker thread, with synchronous
 * fs calls, many to a message.
 *
 * Removing a million proxy blobs with fs.promises took about 22 s of GC's main thread: each
 * call goes to the libuv pool and comes back through the event loop (rename + stat + unlink
 * 76 µs a file that way, 23 µs synchronously, measured on this machine). Here the steps asked
 * for in one turn of the event loop go to the worker as one message; it runs them back to back
 * and answers with one message, so the main thread pays a share of two messages a step.
 *
 * The steps keep the sweeper's guarantees on their own: `aside` renames the file away and
 * reads its size and time, and puts it back itself when it cannot read them; `back` links it
 * home again (a copy already home is the same content) and removes the aside name; `drop`
 * unlinks it. The worker is a short script of Node built-ins, passed as source so it runs the
 * same from dist/ and under the test runner (as file-hasher.ts's); it starts with the first
 * step, does not keep the process alive, and stops after a while without work.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { renameSync, statSync, linkSync, unlinkSync } = require('node:fs');

function back(aside, home) {
  try {
    linkSync(aside, home);
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
  unlinkSync(aside);
}

function run(step) {
  if (step.op === 'aside') {
    try {
      renameSync(step.path, step.aside);
    } catch (err) {
      if (err.code === 'ENOENT') return { gone: true };
      throw err;
    }
    let info;
    try {
      info = statSync(step.aside);
    } catch (err) {
      back(step.aside, step.path);
      throw err;
    }
    return { size: info.size, mtimeMs: info.mtimeMs };
  }
  if (step.op === 'back') back(step.aside, step.home);
  else unlinkSync(step.aside);
  return {};
}

parentPort.on('message', (m) => {
  const results = m.steps.map((step) => {
    try {
      return run(step);
    } catch (err) {
      return { error: { message: String(err && err.message ? err.message : err), code: err && err.code } };
    }
  });
  parentPort.postMessage({ id: m.id, results });
});
`;

/** One step: rename `path` to `aside` and read it; link `aside` back to `home`; or unlink `aside`. */
export type SweepStep = { op: 'aside'; path: string; aside: string } | { op: 'back'; aside: string; home: string } | { op: 'drop'; aside: string };

/** What a step found: `gone` when the file to set aside was not there; size and time of a file set aside. */
export interface SweepResult {
  gone?: boolean;
  size?: number;
  mtimeMs?: number;
}

interface WireResult extends SweepResult {
  error?: { message: string; code?: string };
}

interface Waiter {
  resolve(result: SweepResult): void;
  reject(error: Error): void;
}

interface Batch {
  waiters: Waiter[];
  worker: Worker;
}

/** An error of a step, carrying the fs error's code (ENOENT, EACCES, ...) as fs errors do. */
function stepError(error: { message: string; code?: string }): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(error.message);
  if (error.code !== undefined) err.code = error.code;
  return err;
}

export class SweepWorker {
  private worker: Worker | undefined;
  private queued: { step: SweepStep; waiter: Waiter }[] = [];
  private flushing: NodeJS.Immediate | undefined;
  private readonly inFlight = new Map<number, Batch>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;

  /** @param idleMs the worker stops after this long without work, giving its memory back. */
  constructor(private readonly idleMs = 10_000) {}

  /** Runs `step` on the worker, in one message with the other steps asked for in this turn. */
  run(step: SweepStep): Promise<SweepResult> {
    return new Promise((resolve, reject) => {
      this.queued.push({ step, waiter: { resolve, reject } });
      this.flushing ??= setImmediate(() => this.flush());
    });
  }

  /** Whether a worker is up (for tests). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Messages sent to a worker so far (for tests: steps of one turn share one). */
  get messages(): number {
    return this.nextId - 1;
  }

  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private flush(): void {
    this.flushing = undefined;
    const queued = this.queued;
    this.queued = [];
    if (queued.length === 0) return;
    const id = this.nextId++;
    const worker = this.ensureWorker();
    this.inFlight.set(id, { waiters: queued.map((q) => q.waiter), worker });
    worker.postMessage({ id, steps: queued.map((q) => q.step) });
    clearTimeout(this.idleTimer);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4, stackSizeMb: 1 } });
    worker.unref();
    worker.on('message', (reply: { id: number; results: WireResult[] }) => {
      const batch = this.inFlight.get(reply.id);
      if (!batch) return;
      this.inFlight.delete(reply.id);
      batch.waiters.forEach((waiter, i) => {
        const result = reply.results[i];
        if (result === undefined) waiter.reject(new Error('the sweep worker gave no answer for a step'));
        else if (result.error) waiter.reject(stepError(result.error));
        else waiter.resolve(result);
      });
      if (this.inFlight.size === 0) this.startIdleTimer();
    });
    const lost = (reason: string): void => {
      if (this.worker === worker) this.worker = undefined;
      // Only this worker's steps fail: a new one may already be running later steps.
      for (const [id, batch] of this.inFlight) {
        if (batch.worker !== worker) continue;
        this.inFlight.delete(id);
        for (const waiter of batch.waiters) waiter.reject(new Error(`the sweep worker stopped: ${reason}`));
      }
    };
    worker.on('error', (err) => lost(err.message));
    worker.on('exit', (code) => lost(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  private startIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.inFlight.size === 0 && this.queued.length === 0) void this.close();
    }, this.idleMs);
    this.idleTimer.unref();
  }
}
