/**
 * Fresh random blobs, generated as a stream and never held whole in memory.
 *
 * A blob is one random 1 MiB block, repeated, with the block's index stamped in its first
 * 8 bytes, so no two MiB of any blob are alike and no blob repeats another: deduplication
 * cannot help either server. The bytes are a pure function of the seed, so a blob is hashed
 * once while it is generated (its digest must be known before a monolithic PUT) and
 * generated again as the request body.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const BLOCK = 1024 * 1024;

export class BlobData {
  private constructor(
    private readonly seed: Buffer,
    readonly size: number,
    readonly digest: string,
  ) {}

  static create(size: number): BlobData {
    const seed = randomBytes(BLOCK);
    const hash = createHash('sha256');
    for (const chunk of blocks(seed, 0, size)) hash.update(chunk);
    return new BlobData(seed, size, `sha256:${hash.digest('hex')}`);
  }

  /** Writes the blob to a file (for curl to send). */
  async writeFile(path: string): Promise<void> {
    await pipeline(this.stream(), createWriteStream(path));
  }

  /** The bytes in [start, end) in one buffer (one chunk of a chunked push). */
  bytes(start: number, end: number): Buffer {
    return Buffer.concat([...blocks(this.seed, start, end)], end - start);
  }

  /** The bytes in [start, end), as a stream of at most 1 MiB chunks. */
  stream(start = 0, end = this.size): Readable {
    return Readable.from(blocks(this.seed, start, end), { objectMode: false });
  }
}

function* blocks(seed: Buffer, start: number, end: number): Generator<Buffer> {
  let offset = start;
  while (offset < end) {
    const index = Math.floor(offset / BLOCK);
    const blockStart = index * BLOCK;
    // A new buffer each time: the previous one may still sit in a socket's write queue.
    const block = Buffer.allocUnsafe(BLOCK);
    seed.copy(block);
    block.writeBigUInt64BE(BigInt(index), 0);
    const from = offset - blockStart;
    const to = Math.min(BLOCK, end - blockStart);
    yield from === 0 && to === BLOCK ? block : block.subarray(from, to);
    offset = blockStart + to;
  }
}
