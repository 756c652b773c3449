/**
 * Where clients following a proxy download read its bytes before it is stored. When the
 * backend's writer can read back what it wrote (the filesystem: readAt on its temporary
 * file), that is the spool and the blob is written once. Otherwise (an object store) the
 * bytes are also written to a file of the download's own in the temporary root as they pass
 * to the writer, and that file is removed once the download is stored or failed.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import type { BlobWriter, Landed } from '../storage/blob-store.js';

export interface DownloadSpool {
  /** Reads up to `length` bytes at `position` into `buffer`; returns the bytes read. */
  readAt(buffer: Buffer, position: number, length: number): Promise<number>;
  /**
   * The upstream body as the writer should read it: the same stream when the writer is the
   * spool, a stream that has written each chunk to the spool first otherwise. `landed` hears
   * the spooled total when the spool is a file of its own.
   */
  source(body: Readable, landed: Landed): Readable;
  /** True when readers follow the writer itself (its `landed` is the spool's). */
  readonly followsWriter: boolean;
  /** Releases the spool (its own file is removed); readers must be done with it. */
  close(): Promise<void>;
}

/** The writer's own read-back, when it has one; a file in `tempDir` otherwise. */
export async function spoolFor(writer: BlobWriter, tempDir: string): Promise<DownloadSpool> {
  const readAt = writer.readAt;
  if (readAt) {
    return { readAt, source: (body) => body, followsWriter: true, close: () => Promise.resolve() };
  }
  await mkdir(tempDir, { recursive: true });
  const path = join(tempDir, `download-${randomUUID()}`);
  const handle = await open(path, 'w+');
  // Shared by every source() of this spool: each appends where the last one ended.
  const end = { position: 0 };
  return {
    readAt: async (buffer, position, length) => (await handle.read(buffer, 0, Math.min(length, buffer.length), position)).bytesRead,
    source: (body, landed) => pipeline(body, new SpoolTee(handle, end, landed), () => undefined),
    followsWriter: false,
    close: async () => {
      await handle.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
    },
  };
}

/** Writes each chunk to the spool file, then passes it on. */
class SpoolTee extends Transform {
  constructor(
    private readonly handle: FileHandle,
    private readonly spooled: { position: number },
    private readonly landed: Landed,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.writeAll(chunk).then(() => {
      this.landed(this.spooled.position, [chunk]);
      callback(null, chunk);
    }, callback);
  }

  private async writeAll(chunk: Buffer): Promise<void> {
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, done, chunk.length - done, this.spooled.position);
      if (bytesWritten <= 0) throw new Error('short write to the download spool');
      done += bytesWritten;
      this.spooled.position += bytesWritten;
    }
  }
}
