/**
 * The 64 KiB chunks of blob files that sends through small buffers share. Blob files never
 * change once stored (their name is their digest), so a chunk read for one response serves
 * every other response that needs the same bytes: 300 nodes pulling one layer at once, each at
 * a few MB/s, read it from disk about once instead of 300 times, and hold the chunks they are
 * writing together instead of two buffers each.
 *
 * A chunk is read once however many sends ask for it at the same time (the others wait for
 * that read). While a send's write of it is under way the chunk is referenced. Once no send
 * references it, it stays if another send of the same file is under way (it may need the
 * chunk next), most recently used last, until the idle chunks would exceed `keepBytes`: the
 * oldest then goes back to the small buffers it came from. So readers that follow each other
 * within `keepBytes` of the file share every chunk. A file with one reader keeps nothing: a
 * lone client's GET costs the same memory as before sharing (in the bench's docker pulls,
 * keeping every chunk cost about 10 MiB of peak RSS).
 *
 * A chunk whose write never completed (the socket went away) may still be read by the kernel:
 * its buffer is never handed back for reuse, only dropped for the garbage collector.
 */
export interface Chunk {
  /** The chunk's bytes (shorter than a whole chunk at the end of a file). Never written to. */
  readonly bytes: Buffer;
  /** The write that used it has completed. */
  release(): void;
  /** The write that used it never completed: its buffer must not be reused. */
  lose(): void;
}

/** A file whose chunks are shared: what identifies its content, and its path (for errors). */
export interface ChunkFile {
  id: string;
  path: string;
}

/** Where chunk buffers come from and go back to (send-buffers.ts). */
export interface ChunkBuffers {
  readonly smallSize: number;
  takeSmall(): Buffer;
  give(buffer: Buffer): void;
}

interface Entry {
  key: string;
  file: string;
  buffer: Buffer;
  /** Set once read; until then `loading` is under way. */
  bytes: Buffer | undefined;
  loading: Promise<Buffer> | undefined;
  refs: number;
  /** A write of it never completed: dropped on eviction instead of reused. */
  lost: boolean;
}

export class SharedChunks {
  private readonly entries = new Map<string, Entry>();
  /** Entries no send references, oldest first (a Map keeps insertion order). */
  private readonly idle = new Map<string, Entry>();
  /** Sends under way per file id (open()). */
  private readonly readers = new Map<string, number>();
  private reads = 0;

  constructor(
    private readonly buffers: ChunkBuffers,
    private readonly keepBytes: number,
  ) {}

  get size(): number {
    return this.buffers.smallSize;
  }

  /** A send of `file` starts; the function returned says it ended (once). */
  open(file: ChunkFile): () => void {
    this.readers.set(file.id, (this.readers.get(file.id) ?? 0) + 1);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const left = (this.readers.get(file.id) ?? 1) - 1;
      if (left > 0) this.readers.set(file.id, left);
      else this.readers.delete(file.id);
    };
  }

  /**
   * Chunk `index` of the file `file.id` names (a blob file: its content never changes while
   * it is that file, e.g. device, inode and modification time), `length` bytes long (a whole
   * chunk, or the file's tail), read with `read` (into `buffer` from byte `position` of the
   * file, resolving with the bytes read) unless it is at hand. `file.path` is for errors.
   */
  async get(file: ChunkFile, index: number, length: number, read: (buffer: Buffer, position: number, length: number) => Promise<number>): Promise<Chunk> {
    const key = `${index}:${file.id}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const created: Entry = { key, file: file.id, buffer: this.buffers.takeSmall(), bytes: undefined, loading: undefined, refs: 0, lost: false };
      entry = created;
      this.entries.set(key, created);
      this.reads++;
      created.loading = read(created.buffer, index * this.size, length).then((bytesRead) => {
        if (bytesRead !== length) throw new Error(`${file.path} ended at byte ${index * this.size + bytesRead}, before byte ${index * this.size + length}`);
        created.bytes = created.buffer.subarray(0, length);
        created.loading = undefined;
        return created.bytes;
      });
      // A failed read leaves nothing behind: the next send reads again.
      created.loading.catch(() => {
        if (this.entries.get(key) === created) this.entries.delete(key);
        this.buffers.give(created.buffer);
      });
    }
    this.idle.delete(key);
    entry.refs++;
    let bytes: Buffer;
    try {
      bytes = entry.bytes ?? (await (entry.loading as Promise<Buffer>));
    } catch (err) {
      entry.refs--;
      throw err;
    }
    return this.chunk(entry, bytes);
  }

  private chunk(entry: Entry, bytes: Buffer): Chunk {
    let done = false;
    const end = (lost: boolean): void => {
      if (done) return;
      done = true;
      if (lost) entry.lost = true;
      if (--entry.refs > 0) return;
      if (this.entries.get(entry.key) !== entry) return;
      if ((this.readers.get(entry.file) ?? 0) > 1) {
        this.idle.set(entry.key, entry);
        this.evict();
        return;
      }
      // Nobody else is reading this file: nothing to keep it for.
      this.entries.delete(entry.key);
      if (!entry.lost) this.buffers.give(entry.buffer);
    };
    return { bytes, release: () => end(false), lose: () => end(true) };
  }

  private evict(): void {
    while (this.idle.size * this.size > this.keepBytes) {
      const oldest = this.idle.values().next().value as Entry;
      this.idle.delete(oldest.key);
      this.entries.delete(oldest.key);
      if (!oldest.lost) this.buffers.give(oldest.buffer);
    }
  }

  /** Chunks held (referenced or idle), idle ones, and reads started so far (for tests and metrics). */
  get counts(): { held: number; idle: number; reads: number } {
    return { held: this.entries.size, idle: this.idle.size, reads: this.reads };
  }
}
