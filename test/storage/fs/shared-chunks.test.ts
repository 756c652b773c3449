// The chunks of blob files shared by sends (src/storage/fs/shared-chunks.ts), with a recorded
// buffer pool and reads a test resolves by hand.
import { describe, expect, test } from '@jest/globals';
import { SharedChunks, type ChunkBuffers } from '../../../src/storage/fs/shared-chunks.js';

const SIZE = 16;

/** A pool of SIZE-byte buffers that records what comes back. */
function pool(): ChunkBuffers & { given: Buffer[]; taken: Buffer[] } {
  const given: Buffer[] = [];
  const taken: Buffer[] = [];
  return {
    smallSize: SIZE,
    given,
    taken,
    takeSmall() {
      const b = Buffer.alloc(SIZE);
      taken.push(b);
      return b;
    },
    give(b) {
      given.push(b);
    },
  };
}

/** A file of `length` bytes whose byte i is i % 251, read synchronously; counts the reads. */
function file(length: number): { read: (buffer: Buffer, position: number, n: number) => Promise<number>; reads: number[] } {
  const reads: number[] = [];
  return {
    reads,
    read: async (buffer, position, n) => {
      reads.push(position);
      const count = Math.max(0, Math.min(n, length - position));
      for (let i = 0; i < count; i++) buffer[i] = (position + i) % 251;
      return count;
    },
  };
}

const at = (path: string): { id: string; path: string } => ({ id: `id-of-${path}`, path });
const expected = (from: number, n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) % 251));

describe('SharedChunks', () => {
  test('sends asking for one chunk at once share one read and one buffer; a file\'s tail is a short chunk', async () => {
    const chunks = new SharedChunks(pool(), 4 * SIZE);
    const f = file(40);
    const [a, b] = await Promise.all([chunks.get(at('/blobs/x'), 1, SIZE, f.read), chunks.get(at('/blobs/x'), 1, SIZE, f.read)]);
    expect(f.reads).toEqual([16]);
    expect(a.bytes.equals(expected(16, SIZE))).toBe(true);
    expect(b.bytes.buffer).toBe(a.bytes.buffer);
    const tail = await chunks.get(at('/blobs/x'), 2, 8, f.read);
    expect(tail.bytes.equals(expected(32, 8))).toBe(true);
    // Another file's chunk of the same index is its own.
    const other = await chunks.get(at('/blobs/y'), 1, SIZE, f.read);
    expect(other.bytes.buffer).not.toBe(a.bytes.buffer);
    expect(f.reads).toEqual([16, 32, 16]);
  });

  test('a chunk no send references is kept for the next, up to keepBytes; then the oldest idle one goes back to the pool', async () => {
    const buffers = pool();
    const chunks = new SharedChunks(buffers, 2 * SIZE);
    const f = file(10 * SIZE);
    // Two sends of the file under way: what one releases, the other may need.
    chunks.open(at('/f'));
    chunks.open(at('/f'));
    for (const index of [0, 1]) (await chunks.get(at('/f'), index, SIZE, f.read)).release();
    expect(chunks.counts).toEqual({ held: 2, idle: 2, reads: 2 });
    // Chunk 0 again: no read. It is now the most recently used.
    const again = await chunks.get(at('/f'), 0, SIZE, f.read);
    expect(chunks.counts).toEqual({ held: 2, idle: 1, reads: 2 });
    again.release();
    (await chunks.get(at('/f'), 2, SIZE, f.read)).release();
    // Three idle chunks over a keep of two: chunk 1, the oldest, went back.
    expect(chunks.counts).toEqual({ held: 2, idle: 2, reads: 3 });
    expect(buffers.given).toEqual([buffers.taken[1]]);
    // Releasing twice counts once.
    const c = await chunks.get(at('/f'), 3, SIZE, f.read);
    const d = await chunks.get(at('/f'), 3, SIZE, f.read);
    c.release();
    c.release();
    expect(chunks.counts.held - chunks.counts.idle).toBe(1);
    d.release();
    expect(chunks.counts.held).toBe(chunks.counts.idle);
  });

  test('a file with one send under way keeps nothing: its chunks go back once released; a second send makes them stay', async () => {
    const buffers = pool();
    const chunks = new SharedChunks(buffers, 8 * SIZE);
    const f = file(4 * SIZE);
    const close = chunks.open(at('/f'));
    (await chunks.get(at('/f'), 0, SIZE, f.read)).release();
    expect(chunks.counts).toEqual({ held: 0, idle: 0, reads: 1 });
    expect(buffers.given).toEqual([buffers.taken[0]]);
    const second = chunks.open(at('/f'));
    (await chunks.get(at('/f'), 1, SIZE, f.read)).release();
    expect(chunks.counts).toEqual({ held: 1, idle: 1, reads: 2 });
    second();
    second();
    (await chunks.get(at('/f'), 2, SIZE, f.read)).release();
    expect(chunks.counts).toEqual({ held: 1, idle: 1, reads: 3 });
    close();
  });

  test('a chunk whose write never completed is not handed back for reuse when it leaves', async () => {
    const buffers = pool();
    const chunks = new SharedChunks(buffers, 0);
    const f = file(4 * SIZE);
    (await chunks.get(at('/f'), 0, SIZE, f.read)).lose();
    (await chunks.get(at('/f'), 1, SIZE, f.read)).release();
    expect(chunks.counts).toEqual({ held: 0, idle: 0, reads: 2 });
    expect(buffers.given).toEqual([buffers.taken[1]]);
  });

  test('a failed or short read fails every send waiting for it, leaves nothing behind, and the next send reads again', async () => {
    const buffers = pool();
    const chunks = new SharedChunks(buffers, 4 * SIZE);
    let fail!: (err: Error) => void;
    const failing = (): Promise<number> =>
      new Promise<number>((_resolve, reject) => {
        fail = reject;
      });
    const waiting = [chunks.get(at('/f'), 0, SIZE, failing), chunks.get(at('/f'), 0, SIZE, failing)];
    fail(new Error('EIO'));
    for (const w of waiting) await expect(w).rejects.toThrow('EIO');
    expect(chunks.counts).toEqual({ held: 0, idle: 0, reads: 1 });
    expect(buffers.given).toEqual([buffers.taken[0]]);
    // The file turned out shorter than the chunk asked for.
    await expect(chunks.get(at('/f'), 0, SIZE, file(10).read)).rejects.toThrow('/f ended at byte 10, before byte 16');
    expect(chunks.counts.held).toBe(0);
    const ok = await chunks.get(at('/f'), 0, SIZE, file(SIZE).read);
    expect(ok.bytes.equals(expected(0, SIZE))).toBe(true);
  });
});
