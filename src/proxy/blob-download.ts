/**
 * One upstream blob download in progress, which any number of clients read whole while it
 * grows (ranges wait until it is stored). Readers near the head send the writer's last
 * landed chunks from memory (the window); readers further behind read the spool
 * (download-spool.ts: the store's writer itself on the filesystem) with positional reads.
 * Before the download is committed or cancelled it is sealed: readers stop reading the spool
 * and, once it is stored, read what they still lack from the store, so the writer may release
 * the spool.
 */
import { EventEmitter, once } from 'node:events';
import type { Writable } from 'node:stream';
import { destinationClosed, write, type DestinationWatch } from '../primitives/writable-waits.js';
import type { DownloadSpool } from './download-spool.js';

/** Each client's read buffer for a download in progress. */
const READ_CHUNK = 256 << 10;
/**
 * At most this many of the writer's latest landed bytes are kept in memory (its own chunks,
 * referenced, not copied): a reader at most this far behind the head sends them instead of
 * reading the spool back. The window holds only what such readers have yet to send, so with
 * readers at the head it is the last landed batch or two, not 4 MiB per download.
 */
const WINDOW = 4 << 20;
/** Most bytes a reader sends from the window in one corked write. */
const WINDOW_SEND = 1 << 20;

export class BlobDownload {
  /** Bytes written so far; readers may read up to here. */
  written = 0;
  state: 'running' | 'done' | 'failed' = 'running';
  error: Error | undefined;
  /**
   * Repositories the upstream showed have this blob (the one it is fetched for, and those
   * that confirmed it since): the download may be read by requests for these only.
   */
  readonly repositories = new Set<string>();
  private readonly events = new EventEmitter().setMaxListeners(0);
  /** Set before commit or cancel: the spool is not read any more. */
  private sealed = false;
  /** Spool reads under way. */
  private reading = 0;
  /** The window: the writer's last landed chunks, in order, the first at byte `windowStart`. */
  private window: Buffer[] = [];
  private windowStart = 0;
  private windowBytes = 0;
  /** Where each sendTo is (the first byte it has yet to send): the window keeps what they still need. */
  private readonly readers = new Set<{ position: number }>();
  private settle: () => void = () => undefined;
  /** Resolves when the download is stored or has failed. */
  readonly settled = new Promise<void>((resolve) => {
    this.settle = resolve;
  });

  constructor(
    private readonly spool: DownloadSpool,
    /** Size announced by the upstream (Content-Length), if any. */
    readonly size: number | undefined,
    /** Writes bytes `start` to `end` (inclusive) of the stored blob to dest, without ending it. */
    private readonly readStored: (dest: Writable, start: number, end: number) => Promise<void>,
  ) {}

  /** Stops spool reads and waits for those under way: the writer commits or cancels next. */
  async seal(): Promise<void> {
    this.sealed = true;
    this.dropWindow(this.written);
    this.events.emit('change');
    while (this.reading > 0) await once(this.events, 'idle');
  }

  /**
   * The writer's bytes so far have landed in the file; `chunks`, when the writer gives them,
   * are the bytes that just did (kept in the window). Without them the window is emptied.
   */
  grewTo(written: number, chunks?: readonly Buffer[]): void {
    if (chunks === undefined) this.dropWindow(written);
    else this.widen(written, chunks);
    this.written = written;
    this.events.emit('change');
  }

  succeeded(): void {
    this.state = 'done';
    this.events.emit('change');
    this.settle();
  }

  failed(error: Error): void {
    this.state = 'failed';
    this.error = error;
    this.events.emit('change');
    this.settle();
  }

  /**
   * Resolves once the blob is verified and in the store; rejects with the download's error if
   * it failed, or when `dest` closes first (nobody is waiting for it any more).
   */
  async stored(dest: Writable): Promise<void> {
    const closed = destinationClosed(dest);
    try {
      await Promise.race([this.settled, closed.promise]);
    } finally {
      closed.dispose();
    }
    if (this.state === 'failed') throw this.error ?? new Error('upstream download failed');
  }

  onChange(listener: () => void): () => void {
    this.events.once('change', listener);
    return () => this.events.off('change', listener);
  }

  /**
   * Writes the whole blob to `dest` as it arrives, without ending `dest`,
   * through one buffer of its own that is refilled once the destination is done with it:
   * twenty clients on one download hold 20 x 256 KiB, and make no garbage per read.
   * The last byte is held back until the digest is verified, so a client of a lying or
   * truncated upstream sees a broken transfer, never a complete wrong blob. That protects
   * only a read to the end of the blob: a range that stops short would be complete with
   * unverified bytes, so there is no range read here; ranges are read from the store once
   * the download is `stored`. Once sealed, the rest (at least the last byte) comes from the
   * store after the blob is stored. `from` skips the first bytes (a replica following this
   * download over the peer path resumes where its last stream ended).
   */
  async sendTo(dest: Writable, from = 0): Promise<void> {
    const closed = destinationClosed(dest);
    let unsubscribe: (() => void) | undefined;
    const reader = { position: from };
    this.readers.add(reader);
    try {
      let position = from;
      let buffer: Buffer | undefined;
      for (;;) {
        reader.position = position;
        this.throwIfFailed();
        if (this.sealed || this.state !== 'running') return await this.rest(dest, position, closed.promise);
        const verified = Math.max(0, this.written - 1);
        if (position < verified && position >= this.windowStart && position < this.windowStart + this.windowBytes) {
          position += await this.sendWindow(dest, position, verified, closed);
          continue;
        }
        if (position < verified) {
          buffer ??= Buffer.allocUnsafe(READ_CHUNK);
          const bytesRead = await this.readSpool(buffer, position, verified - position);
          if (bytesRead === 0) {
            // The spool holds less than was written: a writer whose write failed cuts its file
            // back (all or nothing) before the download is sealed. The download's outcome, not
            // this short read, is the answer: a client told of a failure before the download
            // is known to have failed would retry into it (blob-fetcher.ts).
            return await this.rest(dest, position, closed.promise);
          }
          position += bytesRead;
          await closed.race(write(dest, buffer.subarray(0, bytesRead)));
          continue;
        }
        await closed.race(
          new Promise<void>((resolve) => {
            unsubscribe = this.onChange(resolve);
          }),
        );
        unsubscribe = undefined;
      }
    } finally {
      this.readers.delete(reader);
      unsubscribe?.();
      closed.dispose();
    }
  }

  /** Bytes the window holds now (for tests). */
  get windowed(): number {
    return this.windowBytes;
  }

  /**
   * Sends from the window, from `position` (inside it) up to `end` (exclusive) or WINDOW_SEND
   * bytes, in one corked write; returns the bytes sent. The slices stay valid after the window
   * moves on: they reference the chunks, which live as long as a slice does.
   */
  private async sendWindow(dest: Writable, position: number, end: number, closed: DestinationWatch): Promise<number> {
    const slices: Buffer[] = [];
    let at = this.windowStart;
    let sent = 0;
    const until = Math.min(end, position + WINDOW_SEND);
    for (const chunk of this.window) {
      const chunkEnd = at + chunk.length;
      if (chunkEnd > position && at < until) {
        const slice = chunk.subarray(Math.max(0, position - at), Math.min(chunk.length, until - at));
        slices.push(slice);
        sent += slice.length;
      }
      at = chunkEnd;
      if (at >= until) break;
    }
    const last = slices.pop() as Buffer;
    dest.cork();
    for (const slice of slices) dest.write(slice);
    const written = write(dest, last);
    dest.uncork();
    await closed.race(written);
    return sent;
  }

  private widen(written: number, chunks: readonly Buffer[]): void {
    let size = 0;
    for (const chunk of chunks) size += chunk.length;
    // Chunks that do not follow the window (a writer that started over) start a new one.
    if (this.windowStart + this.windowBytes !== written - size) this.dropWindow(written - size);
    for (const chunk of chunks) {
      if (chunk.length === 0) continue;
      this.window.push(chunk);
      this.windowBytes += chunk.length;
    }
    // Kept from the first byte a reader has yet to send (a reader at the head waits behind
    // the last byte, held back until the digest is verified), and at most the last WINDOW
    // bytes: a reader further behind reads the spool until it catches up. With no reader, the
    // last chunk stays, for one that joins.
    let needed = written;
    for (const reader of this.readers) if (reader.position < needed) needed = reader.position;
    for (;;) {
      const first = this.window[0] as Buffer;
      if (this.window.length <= 1) break;
      if (this.windowStart + first.length > needed && this.windowBytes - first.length < WINDOW) break;
      this.window.shift();
      this.windowStart += first.length;
      this.windowBytes -= first.length;
    }
  }

  private dropWindow(at: number): void {
    this.window = [];
    this.windowStart = at;
    this.windowBytes = 0;
  }

  /** Waits for the outcome; then fails with the download, or sends what `dest` lacks from the store. */
  private async rest(dest: Writable, position: number, closed: Promise<never>): Promise<void> {
    await Promise.race([this.settled, closed]);
    this.throwIfFailed();
    if (position < this.written) await this.readStored(dest, position, this.written - 1);
  }

  private throwIfFailed(): void {
    if (this.state === 'failed') throw this.error ?? new Error('upstream download failed');
  }

  private async readSpool(buffer: Buffer, position: number, length: number): Promise<number> {
    this.reading++;
    try {
      return await this.spool.readAt(buffer, position, length);
    } finally {
      if (--this.reading === 0) this.events.emit('idle');
    }
  }
}
