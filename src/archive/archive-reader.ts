/**
 * Reads an image archive (a tar, optionally gzipped) in one pass as it streams in, without
 * holding it: small top-level metadata files (manifest.json, index.json, oci-layout,
 * repositories) are kept in memory, capped; every other regular file goes straight into an
 * upload session of the target repository, hashed on the way. Which of those files are
 * blobs, and under which digest, is only known once the metadata is read (docker save
 * writes manifest.json last), so sessions stay open until the importer commits the ones it
 * needs through UploadService.finish, which verifies the digest as for any push; discard()
 * cancels the rest. Symbolic and hard links (docker save links duplicate layers) are
 * followed by path.
 *
 * Nothing unpacks beyond what the temporary storage can hold: every entry's size is known
 * from its tar header before its bytes are read (tar-stream hands out exactly that many), so
 * an entry larger than limits.max_blob_size, or one that would take the archive's unpacked
 * total (or the entry alone) past the free space of the temporary storage less a reserve, is
 * refused with SIZE_INVALID before any of it is written: a small gzip of zeros cannot fill
 * the disk.
 *
 * tar-stream parses the archive: streaming, no filesystem, PAX and GNU long names (Go's
 * archive/tar, which docker and skopeo use, writes PAX headers for long paths).
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { RegistryError } from '../primitives/errors.js';
import type { UploadService } from '../registry/upload-service.js';
import { digestAlgorithm, type Digest, type RepoName } from '../primitives/types.js';

/** The upload operations an import uses: the same ones a chunked push uses. */
export type ArchiveUploads = Pick<UploadService, 'start' | 'append' | 'finish' | 'cancel' | 'freeSpace' | 'maxBlobSize'>;

/** A regular file of the archive, held in an upload session until it is committed or discarded. */
export interface StagedFile {
  path: string;
  size: number;
  /** sha256 of the content, computed while it streamed. */
  sha256: Digest;
  /** The content starts with the gzip magic bytes. */
  gzip: boolean;
  uploadId: string;
}

/** One entry of the tar as tar-stream hands it out: its header and a stream of its content. */
type Entry = AsyncIterable<unknown> & { resume(): unknown };

export interface ArchiveLimits {
  /** Largest metadata file (manifest.json, index.json, ...) kept in memory. */
  maxMetadataSize: number;
  /** Most regular files an archive may hold. */
  maxFiles: number;
  /** Bytes of the temporary storage an import leaves free for everything else. */
  reserve: number;
}

const METADATA = new Set(['manifest.json', 'index.json', 'oci-layout', 'repositories']);
/** Docker's legacy per-layer files: the v1 layer JSON and VERSION carry nothing an OCI image needs. */
const LEGACY_LAYER_METADATA = /^[0-9a-f]{64}\/(?:json|VERSION)$/;
const MAX_LINK_HOPS = 16;

function tooLarge(message: string, detail: unknown): RegistryError {
  return new RegistryError('SIZE_INVALID', message, detail, 413);
}

export function invalidArchive(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, detail);
}

/** A path inside the archive as a lookup key: no leading `./` or `/`, no `.` or `..` segments. */
export function normalizePath(path: string): string {
  return posix.normalize(`/${path}`).slice(1).replace(/\/+$/, '');
}

export class ArchiveContents {
  readonly metadata = new Map<string, Buffer>();
  private readonly files = new Map<string, StagedFile>();
  private readonly links = new Map<string, string>();
  private readonly commits = new Map<string, { digest: Digest; done: Promise<void> }>();

  constructor(
    private readonly uploads: ArchiveUploads,
    readonly repo: RepoName,
  ) {}

  get fileCount(): number {
    return this.files.size;
  }

  /** The staged regular file at `path`, following links. */
  file(path: string): StagedFile | undefined {
    let current = normalizePath(path);
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const staged = this.files.get(current);
      if (staged) return staged;
      const target = this.links.get(current);
      if (target === undefined) return undefined;
      current = target;
    }
    return undefined;
  }

  /** Verifies `file` against `digest` and makes it a blob of the repository (once per file). */
  async commit(file: StagedFile, digest: Digest): Promise<void> {
    const earlier = this.commits.get(file.uploadId);
    if (earlier) {
      if (earlier.digest !== digest) throw this.mismatch(file, digest);
      return earlier.done;
    }
    if (digestAlgorithm(digest) === 'sha256' && file.sha256 !== digest) throw this.mismatch(file, digest);
    // finish() hashes again while committing (sha512 digests are only checked there).
    const done = this.uploads.finish(this.repo, file.uploadId, digest, undefined, {});
    this.commits.set(file.uploadId, { digest, done });
    return done;
  }

  /** Cancels every upload session that was not committed. */
  async discard(): Promise<void> {
    for (const file of this.files.values()) {
      if (!this.commits.has(file.uploadId)) await this.uploads.cancel(this.repo, file.uploadId).catch(() => undefined);
    }
    this.files.clear();
  }

  /** @internal Used by readArchive while the tar streams. */
  async stage(path: string, entry: Entry, size: number): Promise<void> {
    const previous = this.files.get(path);
    if (previous) {
      // A later entry with the same path replaces the earlier one, as when extracting.
      this.files.delete(path);
      await this.uploads.cancel(this.repo, previous.uploadId);
    }
    this.links.delete(path);
    const uploadId = await this.uploads.start(this.repo);
    const hash = createHash('sha256');
    let head: Buffer | undefined;
    const staged: StagedFile = { path, size, sha256: '' as Digest, gzip: false, uploadId };
    this.files.set(path, staged);
    const hashed = Readable.from(
      (async function* () {
        for await (const chunk of entry) {
          const bytes = chunk as Buffer;
          if (head === undefined || head.length < 2) head = Buffer.concat([head ?? Buffer.alloc(0), bytes.subarray(0, 2)]);
          hash.update(bytes);
          yield bytes;
        }
      })(),
      { objectMode: false },
    );
    try {
      await this.uploads.append(this.repo, uploadId, hashed, { length: size });
    } catch (err) {
      // Stop reading the entry here: left running, it fails once the archive is torn down, unheard.
      hashed.destroy();
      throw err;
    }
    staged.sha256 = `sha256:${hash.digest('hex')}` as Digest;
    staged.gzip = head !== undefined && head[0] === 0x1f && head[1] === 0x8b;
  }

  /** @internal */
  link(path: string, target: string): void {
    this.links.set(path, target);
  }

  private mismatch(file: StagedFile, digest: Digest): RegistryError {
    return new RegistryError('DIGEST_INVALID', `${file.path} in the archive does not match its digest`, {
      path: file.path.slice(0, 300),
      expected: digest,
      actual: file.sha256,
    });
  }
}

async function readMetadata(path: string, entry: Entry, size: number, max: number): Promise<Buffer> {
  if (size > max) {
    entry.resume();
    throw invalidArchive(`${path} in the archive is larger than the limit of ${max} bytes`, { path, limit: max });
  }
  const chunks: Buffer[] = [];
  for await (const chunk of entry) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function drain(entry: Entry): Promise<void> {
  for await (const _chunk of entry) {
    // Skipped content still has to be read to reach the next header.
  }
}

/** The first chunk of `source`, put back so that the stream still starts at byte 0; empty at the end. */
function peek(source: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      cleanup();
      source.pause();
      source.unshift(chunk);
      resolve(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.alloc(0));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', onError);
  });
}

/** Errors of the tar parser and of gunzip mean a bad archive; others (a client gone, a full disk) are not. */
function isArchiveFault(err: unknown): err is Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return err instanceof Error && !(err instanceof RegistryError) && (code === undefined || code.startsWith('Z_'));
}

/**
 * Streams `source` (a tar or a gzipped tar) into staged uploads of `repo` and returns what it
 * held. On failure every session opened so far is cancelled.
 */
export async function readArchive(source: Readable, repo: RepoName, uploads: ArchiveUploads, limits: ArchiveLimits): Promise<ArchiveContents> {
  const contents = new ArchiveContents(uploads, repo);
  // Measured once before the archive is read, and again per staged file: other writers share the disk.
  const budget = Math.max(0, (await uploads.freeSpace()) - limits.reserve);
  const first = await peek(source);
  if (first.length === 0) return contents;
  const gzip = first[0] === 0x1f && first[1] === 0x8b;
  const extract = tar.extract();
  let fault: Error | undefined;
  extract.on('error', (err: Error) => {
    fault ??= err;
  });
  const feeding = (gzip ? pipeline(source, createGunzip(), extract) : pipeline(source, extract)).catch((err: unknown) => {
    if (err instanceof Error) fault ??= err;
  });
  let metadataBytes = 0;
  let unpacked = 0;
  try {
    for await (const entry of extract) {
      const { header } = entry;
      const path = normalizePath(header.name);
      const size = header.size ?? 0;
      unpacked += size;
      if (unpacked > budget) {
        throw tooLarge(`the archive unpacks to more than the ${budget} bytes the temporary storage can take`, { path: path.slice(0, 300), limit: budget });
      }
      if (header.type === 'symlink' || header.type === 'link') {
        const linkname = header.linkname ?? '';
        // Symbolic links are relative to the link's directory, hard links to the archive root.
        contents.link(path, normalizePath(header.type === 'symlink' ? posix.join(posix.dirname(path), linkname) : linkname));
        await drain(entry);
      } else if (header.type !== 'file' && header.type !== 'contiguous-file') {
        await drain(entry);
      } else if (METADATA.has(path)) {
        const bytes = await readMetadata(path, entry, size, limits.maxMetadataSize);
        metadataBytes += bytes.length;
        if (metadataBytes > 4 * limits.maxMetadataSize) throw invalidArchive('the archive holds too much metadata');
        contents.metadata.set(path, bytes);
      } else if (LEGACY_LAYER_METADATA.test(path)) {
        await drain(entry);
      } else {
        if (contents.fileCount >= limits.maxFiles) throw invalidArchive(`the archive holds more than ${limits.maxFiles} files`, { limit: limits.maxFiles });
        const maxBlob = uploads.maxBlobSize;
        if (maxBlob > 0 && size > maxBlob) {
          throw tooLarge(`${path} in the archive is larger than limits.max_blob_size (${maxBlob} bytes)`, { path: path.slice(0, 300), limit: maxBlob });
        }
        const room = (await uploads.freeSpace()) - limits.reserve;
        if (size > room) {
          throw tooLarge(`${path} in the archive (${size} bytes) does not fit in the free space of the temporary storage`, { path: path.slice(0, 300), limit: Math.max(0, room) });
        }
        await contents.stage(path, entry, size);
      }
    }
    await feeding;
    if (fault) throw fault;
    return contents;
  } catch (err) {
    await contents.discard();
    extract.destroy();
    await feeding;
    if (err instanceof RegistryError) throw err;
    const cause: unknown = fault ?? err;
    if (isArchiveFault(cause)) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', `the archive is not a readable tar file: ${cause.message}`, { format: gzip ? 'tar+gzip' : 'tar' });
    }
    throw err;
  }
}
