/**
 * Fixed-size buffers for sending files, handed back after use so the next response reuses
 * them: a fresh 1 MiB buffer costs page faults when first written and garbage when dropped,
 * and under concurrent GETs that garbage was most of the server's memory growth. The pool
 * keeps at most `maxIdle` buffers; a buffer not given back (its write never completed) is
 * left to the garbage collector.
 */
export class BufferPool {
  private readonly idle: Buffer[] = [];

  constructor(
    readonly size: number,
    private readonly maxIdle: number,
  ) {}

  take(): Buffer {
    // allocUnsafeSlow: a buffer of its own, never a slice of Node's shared pool.
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buffer: Buffer): void {
    if (buffer.length === this.size && this.idle.length < this.maxIdle) this.idle.push(buffer);
  }

  /** Buffers waiting to be reused (for tests). */
  get idleCount(): number {
    return this.idle.length;
  }
}
