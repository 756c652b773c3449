/**
 * Large blobs for memory tests without holding them: `size` bytes made of a random 1 MiB block
 * with a counter stamped in (no block repeats), streamed as often as needed, and raw HTTP
 * requests that stream a body to a server and drain its answer.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';

const MiB = 1024 ** 2;

export function generated(size: number): { stream: () => Readable; digest: string } {
  const block = randomBytes(MiB);
  const chunk = (i: number): Buffer => {
    const b = Buffer.from(block.subarray(0, Math.min(MiB, size - i * MiB)));
    if (b.length >= 8) b.writeBigUInt64LE(BigInt(i));
    return b;
  };
  const hash = createHash('sha256');
  const count = Math.ceil(size / MiB);
  for (let i = 0; i < count; i++) hash.update(chunk(i));
  const stream = (): Readable =>
    Readable.from(
      (function* () {
        for (let i = 0; i < count; i++) yield chunk(i);
      })(),
    );
  return { stream, digest: `sha256:${hash.digest('hex')}` };
}

/** One request to `base` + `path`, the body piped in; resolves with the status and headers once the answer is drained. */
export function send(base: string, method: string, path: string, body: Readable | undefined, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

/** A chunked upload of `stream` to the session at `location` in PATCHes of `chunk` bytes; resolves with the bytes sent. */
export async function patchInChunks(base: string, location: string, stream: Readable, chunk: number): Promise<number> {
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    const res = await send(base, 'PATCH', location, Readable.from(pending), {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(pendingBytes),
      'Content-Range': `${offset}-${offset + pendingBytes - 1}`,
    });
    if (res.status !== 202) throw new Error(`PATCH at ${offset} answered ${res.status}`);
    offset += pendingBytes;
    pending = [];
    pendingBytes = 0;
  };
  for await (const c of stream) {
    pending.push(c as Buffer);
    pendingBytes += (c as Buffer).length;
    if (pendingBytes >= chunk) await flush();
  }
  if (pendingBytes > 0) await flush();
  return offset;
}
