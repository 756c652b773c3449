/**
 * bcrypt comparisons on a small pool of worker threads, with a bounded queue.
 *
 * bcrypt is slow on purpose (about 90 ms at cost 10 in bcryptjs) and bcryptjs is plain
 * JavaScript: on the main thread, 16 concurrent wrong passwords made every request, pulls
 * included, wait about 1.4 s. Here each worker runs one comparison at a time; the main
 * thread only posts messages. When every worker is busy and `maxQueued` checks already
 * wait, a new check is refused at once (PasswordChecksBusy) instead of piling up memory
 * and latency. Workers start on first use and are unref'd: they never keep Keel alive.
 * The worker is a short script, passed as source (as in storage/file-hasher.ts) so it runs
 * the same from dist/ and under the test runner; it loads bcryptjs from the path resolved here.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData, threadId } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptjs);
parentPort.on('message', (m) => {
  let ok = false;
  try {
    ok = bcrypt.compareSync(m.password, m.hash);
  } catch {
    ok = false;
  }
  parentPort.postMessage({ id: m.id, ok, threadId });
});
`;

/** Checks a password against a bcrypt hash. */
export interface PasswordVerifier {
  compare(password: string, hash: string): Promise<boolean>;
}

/** Every worker is busy and the queue is full: try again shortly. */
export class PasswordChecksBusy extends Error {
  constructor() {
    super('too many password checks in progress');
    this.name = 'PasswordChecksBusy';
  }
}

/** The answer of one comparison, and the thread that computed it. */
export interface Comparison {
  ok: boolean;
  threadId: number;
}

interface Job {
  id: number;
  password: string;
  hash: string;
  resolve(result: Comparison): void;
  reject(error: Error): void;
}

interface Reply {
  id: number;
  ok: boolean;
  threadId: number;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

export interface BcryptPoolOptions {
  /** Worker threads (comparisons running at once). */
  workers: number;
  /** Comparisons allowed to wait for a worker; beyond that, PasswordChecksBusy. */
  maxQueued: number;
}

export class BcryptPool implements PasswordVerifier {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private readonly bcryptjs = createRequire(import.meta.url).resolve('bcryptjs');

  constructor(private readonly options: BcryptPoolOptions) {}

  async compare(password: string, hash: string): Promise<boolean> {
    return (await this.compareOnWorker(password, hash)).ok;
  }

  /** As compare, also saying which thread did the work (the main thread never does). */
  compareOnWorker(password: string, hash: string): Promise<Comparison> {
    if (this.closed) return Promise.reject(new Error('the password check pool is closed'));
    const idle = this.idleSlot();
    if (!idle && this.queue.length >= this.options.maxQueued) return Promise.reject(new PasswordChecksBusy());
    return new Promise<Comparison>((resolve, reject) => {
      const job: Job = { id: this.nextId++, password, hash, resolve, reject };
      if (idle) this.run(idle, job);
      else this.queue.push(job);
    });
  }

  /** Thread ids of the running workers (for tests and diagnostics). */
  get threadIds(): number[] {
    return this.slots.map((s) => s.worker.threadId);
  }

  async close(): Promise<void> {
    this.closed = true;
    const failed = new Error('the password check pool is closed');
    for (const job of this.queue.splice(0)) job.reject(failed);
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private idleSlot(): Slot | undefined {
    const free = this.slots.find((s) => s.job === undefined);
    if (free) return free;
    if (this.slots.length >= this.options.workers) return undefined;
    return this.spawn();
  }

  private run(slot: Slot, job: Job): void {
    slot.job = job;
    slot.worker.postMessage({ id: job.id, password: job.password, hash: job.hash });
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { bcryptjs: this.bcryptjs },
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2, stackSizeMb: 1 },
    });
    worker.unref();
    const slot: Slot = { worker, job: undefined };
    worker.on('message', (reply: Reply) => {
      const job = slot.job;
      if (!job || job.id !== reply.id) return;
      slot.job = undefined;
      job.resolve({ ok: reply.ok, threadId: reply.threadId });
      const next = this.queue.shift();
      if (next) this.run(slot, next);
    });
    // A worker that dies fails its own check; the next check starts a fresh worker.
    const lost = (reason: string): void => {
      const at = this.slots.indexOf(slot);
      if (at >= 0) this.slots.splice(at, 1);
      const job = slot.job;
      slot.job = undefined;
      job?.reject(new Error(`the password check worker stopped: ${reason}`));
      const next = this.closed ? undefined : this.queue.shift();
      if (next) {
        const replacement = this.idleSlot();
        if (replacement) this.run(replacement, next);
        else this.queue.unshift(next);
      }
    };
    worker.on('error', (err) => lost(err.message));
    worker.on('exit', (code) => lost(`exit code ${code}`));
    this.slots.push(slot);
    return slot;
  }
}
