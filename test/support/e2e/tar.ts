// A minimal ustar writer: enough to make real, deterministic layer tarballs in memory
// (directories and regular files, root-owned, fixed mtime) without the `tar` binary.
// Layers are a few hundred KiB in tests, so building them in a Buffer is fine; the benchmark's
// layers of 100 MiB are streamed from the same pieces (tarHeader, tarPadding, TAR_END).

export interface TarEntry {
  /** Relative path; directories end in "/". At most 100 bytes (no prefix-field splitting). */
  path: string;
  /** Absent for directories. */
  data?: Buffer;
  mode?: number;
}

export const TAR_BLOCK = 512;
const BLOCK = TAR_BLOCK;
/** The end-of-archive marker: two zero blocks. */
export const TAR_END: Buffer = Buffer.alloc(2 * BLOCK);
/** 2024-01-01T00:00:00Z: fixed so the same content always gives the same diff_id. */
const MTIME = 1_704_067_200;

function writeString(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar header field too long: ${value}`);
  bytes.copy(header, offset);
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  // length-1 octal digits, zero padded, then NUL.
  writeString(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/**
 * The 512-byte header of one entry. `size` makes it a regular file of that many bytes whose
 * data the caller streams after it (then `entry.data` is not needed).
 */
export function tarHeader(entry: TarEntry, size?: number): Buffer {
  const isDir = entry.data === undefined && size === undefined;
  const h = Buffer.alloc(BLOCK);
  writeString(h, 0, 100, entry.path);
  writeOctal(h, 100, 8, entry.mode ?? (isDir ? 0o755 : 0o644));
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, size ?? entry.data?.length ?? 0);
  writeOctal(h, 136, 12, MTIME);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  writeString(h, 156, 1, isDir ? '5' : '0');
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeString(h, 265, 32, 'root');
  writeString(h, 297, 32, 'root');
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** An uncompressed tar archive holding `entries` in order. */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(tarHeader(entry));
    if (entry.data !== undefined) {
      parts.push(entry.data);
      parts.push(tarPadding(entry.data.length));
    }
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

/** The zeros that pad a file's data of `size` bytes to a whole block (maybe none). */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}
