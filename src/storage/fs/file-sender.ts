/**
 * Sends a file (or a byte range of it) to a writable, such as an HTTP response, through two
 * reused buffers (send-buffers.ts): one is read from disk while the other is being written out.
 *
 * Why not `pipeline(createReadStream(path), res)`: a read stream allocates a fresh buffer for
 * every read, and on a 512 MiB GET the page faults and garbage of those buffers cost more
 * than the copy itself. Serving a 512 MiB file over loopback on this 2-core machine, the
 * read stream gave 0.9 GB/s and this sender 2.5 GB/s. Node has no sendfile(2); this is the
 * fewest copies it offers. A buffer is only refilled after the write that used it has
 * completed (its callback ran), so the socket never sends bytes that were overwritten.
 *
 * Buffers are sized to what the destination drains: a send starts on small buffers and moves
 * a buffer up to a large one when its last write was taken at once or completed at FAST_DRAIN
 * or faster, the send has averaged STEADY_FAST or more, and the shared budget has one; back
 * down when a write drained slower. Small ones are the 64 KiB chunks of the file that every
 * send shares (shared-chunks.ts): clients reading one blob at nearby offsets (a cluster's
 * nodes pulling one layer) write the same chunk, read once. A client reading at 2 MB/s waits
 * ~30 ms for each 64 KiB, so it references at most two chunks once the socket's own buffers
 * are full; a client on loopback drains 1 MiB in well under a millisecond.
 */
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { SendBuffers } from './send-buffers.js';
import type { Chunk } from './shared-chunks.js';
import type { ByteRange } from '../blob-store.js';
import { ContentIntegrityError } from '../storage-errors.js';
import { destinationClosed, write } from '../../primitives/writable-waits.js';

const BUFFERS = 2;
/**
 * Bytes per millisecond (32 MiB/s) at which a destination counts as fast. Far from both
 * cases that matter: slow links (a few MB/s) and local or LAN clients (hundreds of MB/s and
 * up); an event-loop pause of a few ms does not bring a fast client under it.
 */
export const FAST_DRAIN = (32 << 20) / 1000;
/**
 * Bytes per millisecond (8 MiB/s) that a send must have averaged since it started to move up
 * to a large buffer. A slow client whose socket buffer has room takes each 64 KiB write at
 * once too (the kernel's buffer drains as the client reads), so "taken at once" alone let
 * 300 clients at 2 MB/s take large buffers over and over: in one BENCH_ONLY=slow run they
 * held the 16 MiB budget all along (1,041 large writes, 267,935 refused), and the one fast
 * client, refused 1,015 times, stayed on 64 KiB reads queued behind theirs. Their average
 * falls under this within about a second, once their socket buffers are full.
 */
export const STEADY_FAST = (8 << 20) / 1000;

interface Slot {
  /** A large buffer of the slot's own, or undefined: the slot sends shared chunks (shared-chunks.ts). */
  large: Buffer | undefined;
  /** The shared chunk the last write used, until that write completed. */
  chunk: Chunk | undefined;
  written: Promise<void>;
  /** The last write's callback ran (the buffer may be refilled or handed back). */
  done: boolean;
  /** Bytes per ms of the last completed write; undefined before the first. */
  rate: number | undefined;
  /** The destination took the last write whole at once (a socket: the kernel had room for it). */
  flushed: boolean;
}

/**
 * Writes the bytes of `path` in `range` (inclusive; the whole file without one) to `dest`
 * without ending it. `size` is the length the caller announced (from the index): a file
 * that is missing or of another length is a ContentIntegrityError before anything is
 * written, so a response never promises bytes the file does not hold, nor gets more than
 * it promised. Resolves once every write has completed; rejects on a read error, or when
 * `dest` fails or closes first.
 */
export async function sendFile(path: string, dest: Writable, buffers: SendBuffers, size: number, range?: ByteRange): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ContentIntegrityError(path.slice(path.lastIndexOf('/') + 1), path, size, undefined);
    throw err;
  }
  const closed = destinationClosed(dest);
  const slots: Slot[] = [];
  let closeFile = (): void => undefined;
  try {
    // One fstat on the open file: the length it holds now, whatever the index says.
    const stat = await handle.stat();
    const actual = stat.size;
    if (actual !== size) throw new ContentIntegrityError(path.slice(path.lastIndexOf('/') + 1), path, size, actual);
    const end = range ? Math.min(range.end + 1, size) : size;
    let position = range?.start ?? 0;
    const count = Math.min(BUFFERS, Math.ceil((end - position) / buffers.smallSize));
    const sendStarted = buffers.now();
    /** Bytes of the writes that have completed: the send's average is completed / elapsed. */
    let completed = 0;
    const average = (): number => completed / Math.max(buffers.now() - sendStarted, 1e-3);
    const opened = handle;
    const read = async (buffer: Buffer, at: number, length: number): Promise<number> => (await opened.read(buffer, 0, length, at)).bytesRead;
    const chunkSize = buffers.chunks.size;
    // The file's identity for the shared chunks: a blob file rewritten at this path (a repaired
    // copy renamed over it) is another inode, so nothing read from the one before is served.
    const file = { id: `${stat.dev}:${stat.ino}:${stat.mtimeMs}:${size}`, path };
    closeFile = buffers.chunks.open(file);
    for (let i = 0; i < count; i++) slots.push({ large: undefined, chunk: undefined, written: Promise.resolve(), done: true, rate: undefined, flushed: false });
    for (let i = 0; position < end; i = (i + 1) % count) {
      const slot = slots[i];
      if (slot === undefined) throw new Error('unreachable: slot index out of range');
      await closed.race(slot.written);
      slot.chunk?.release();
      slot.chunk = undefined;
      resize(slot, buffers, end - position, average());
      let bytes: Buffer;
      if (slot.large !== undefined) {
        const bytesRead = await read(slot.large, position, Math.min(slot.large.length, end - position));
        if (bytesRead === 0) throw new Error(`${path} ended at byte ${position}, before byte ${end}`);
        bytes = slot.large.subarray(0, bytesRead);
      } else {
        // The chunk holding `position`, from `position` to the chunk's end or the range's.
        const index = Math.floor(position / chunkSize);
        const from = index * chunkSize;
        slot.chunk = await buffers.chunks.get(file, index, Math.min(chunkSize, size - from), read);
        bytes = slot.chunk.bytes.subarray(position - from, Math.min(end - from, chunkSize));
      }
      position += bytes.length;
      slot.done = false;
      const started = buffers.now();
      slot.written = write(dest, bytes);
      // Nothing left queued: the socket took it all in this call, however busy the event loop.
      slot.flushed = dest.writableLength === 0;
      const sent = bytes.length;
      slot.written.then(
        () => {
          slot.done = true;
          slot.rate = sent / Math.max(buffers.now() - started, 1e-3);
          completed += sent;
        },
        () => undefined,
      );
    }
    await closed.race(Promise.all(slots.map((s) => s.written)));
  } finally {
    closed.dispose();
    // Only buffers whose last write completed go back: the socket may still hold the others.
    for (const slot of slots) {
      if (slot.done) {
        slot.chunk?.release();
        if (slot.large !== undefined) buffers.give(slot.large);
      } else {
        slot.chunk?.lose();
        if (slot.large !== undefined) buffers.lose(slot.large);
      }
    }
    closeFile();
    await handle.close();
  }
}

/**
 * Moves the slot to a large buffer after a fast write (when more than a small one is left to
 * send), to a small one after a slow write. A write the socket took whole at once is fast
 * whatever its callback's delay: on a busy server (300 slow clients) the callback waits for
 * the event loop, and timing alone would keep a fast client on small buffers. Either way the
 * send's `average` (bytes per ms since it started) must be STEADY_FAST or more.
 */
function resize(slot: Slot, buffers: SendBuffers, remaining: number, average: number): void {
  if (slot.rate === undefined) return;
  const fast = (slot.flushed || slot.rate >= FAST_DRAIN) && average >= STEADY_FAST;
  if (slot.large === undefined && fast && remaining > buffers.smallSize) {
    slot.large = buffers.takeLarge();
  } else if (slot.large !== undefined && !fast) {
    buffers.give(slot.large);
    slot.large = undefined;
  }
}
