/**
 * The buffers files are sent through, shared by every response of the process, in two sizes.
 * Every send may use small ones (64 KiB), as the chunks of the file it sends, shared with the
 * other sends of the same bytes (`chunks`, shared-chunks.ts): a client that drains slowly (a
 * node pulling a layer over a modest link) needs no more, and three hundred of them reading
 * one blob then hold about the chunks between the first and the last of them rather than
 * 300 x 2 MiB. A send whose destination drains fast moves up to large ones (1 MiB: on
 * loopback 64 KiB reads send at half the speed), but only while the large buffers in
 * existence stay within `largeBudget` bytes. That budget, `keepChunks` of idle chunks and two
 * referenced chunks per send are all the memory file sends can take, however many clients
 * there are.
 *
 * Buffers go back after use so the next send reuses them: a fresh buffer costs page faults
 * when first written and garbage when dropped. Large ones are never dropped (so no more than
 * the budget of them ever exists, collected or not); idle small ones are kept up to `keepSmall`.
 */
import { SharedChunks } from './shared-chunks.js';

export const SMALL_SEND_BUFFER = 64 << 10;
export const LARGE_SEND_BUFFER = 1 << 20;

/** Bytes of file chunks kept after their last send, for the sends that follow (shared-chunks.ts). */
export const KEPT_CHUNK_BYTES = 16 << 20;

export interface SendBuffersOptions {
  /** Bytes all large buffers together may take (in use or idle); 0: small buffers only. */
  largeBudget: number;
  /** Idle small buffers kept for reuse. */
  keepSmall?: number;
  /** Bytes of idle shared chunks kept (KEPT_CHUNK_BYTES by default). */
  keepChunks?: number;
  /** Milliseconds, monotonic: how sends time their writes (injected by tests). */
  now?: () => number;
  /** Buffer sizes (tests use smaller ones). */
  smallSize?: number;
  largeSize?: number;
}

export class SendBuffers {
  readonly smallSize: number;
  readonly largeSize: number;
  readonly now: () => number;
  /** The small buffers' use: chunks of blob files, shared by the sends that need the same bytes. */
  readonly chunks: SharedChunks;
  private readonly largeBudget: number;
  private readonly keepSmall: number;
  private readonly idleSmall: Buffer[] = [];
  private readonly idleLarge: Buffer[] = [];
  /** Large buffers that exist: handed out or idle. */
  private large = 0;

  constructor(options: SendBuffersOptions) {
    this.smallSize = options.smallSize ?? SMALL_SEND_BUFFER;
    this.largeSize = options.largeSize ?? LARGE_SEND_BUFFER;
    this.largeBudget = options.largeBudget;
    this.keepSmall = options.keepSmall ?? 64;
    this.now = options.now ?? (() => performance.now());
    this.chunks = new SharedChunks(this, options.keepChunks ?? KEPT_CHUNK_BYTES);
  }

  takeSmall(): Buffer {
    // allocUnsafeSlow: a buffer of its own, never a slice of Node's shared pool.
    return this.idleSmall.pop() ?? Buffer.allocUnsafeSlow(this.smallSize);
  }

  /** A large buffer, or undefined when the budget has none left (the send stays on small ones). */
  takeLarge(): Buffer | undefined {
    const idle = this.idleLarge.pop();
    if (idle) return idle;
    if ((this.large + 1) * this.largeSize > this.largeBudget) return undefined;
    this.large++;
    return Buffer.allocUnsafeSlow(this.largeSize);
  }

  /** Hands back a buffer whose last write has completed. */
  give(buffer: Buffer): void {
    if (buffer.length === this.largeSize) this.idleLarge.push(buffer);
    else if (buffer.length === this.smallSize && this.idleSmall.length < this.keepSmall) this.idleSmall.push(buffer);
  }

  /**
   * A buffer that will not come back (its write never completed: the socket went away): a
   * large one no longer counts against the budget, and the garbage collector takes it.
   */
  lose(buffer: Buffer): void {
    if (buffer.length === this.largeSize) this.large--;
  }

  /** Large buffers that exist (in use or idle), and idle ones of each size (for tests and metrics). */
  get counts(): { large: number; idleLarge: number; idleSmall: number } {
    return { large: this.large, idleLarge: this.idleLarge.length, idleSmall: this.idleSmall.length };
  }
}
