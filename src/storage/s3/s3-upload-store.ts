/**
 * Upload sessions in the bucket, with nothing on local disk: a PATCH may reach any replica.
 * A session is a state object (upload-state.ts) listing pieces (s3-paths.ts). An append
 * streams its bytes into pieces of partSize (piece-spool.ts); an end shorter than 5 MiB (S3's
 * smallest part) is stored as a tail piece that the next append reads back and prepends, so
 * small PATCHes cost one short GET and PUT each, and every piece but the last is a valid part.
 * Writing the new state is the append's commit point: an append that fails before it leaves
 * the session at its last acknowledged size (its pieces have keys no state names; they go
 * when the session ends). commit assembles the pieces under the digest key with server-side
 * copies (S3Bucket.assemble): the bytes are those the state names, already hashed.
 *
 * The digest: hashed in this process while the bytes pass (sha256, the algorithm pushes use),
 * and kept with the state version it covers. When this process holds no hash for the session's
 * current version (a restart, an append on another replica, another algorithm), digest()
 * re-hashes the stored pieces. Why not persist the hash state: Node's crypto cannot export a
 * SHA-256 midstate, and a JavaScript SHA-256 that can would slow every pushed byte several
 * times over, while re-hashing costs one read of the session only when it changes hands.
 *
 * Two appends to one session at once are the caller's to prevent (issue 18 refuses the second
 * with 416 through the database); here the later state write would win.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Digest, DigestAlgorithm } from '../../primitives/types.js';
import type { UploadSession, UploadStore } from '../upload-store.js';
import { hashPieces } from './hash-pieces.js';
import { spoolPieces } from './piece-spool.js';
import type { Piece, S3Bucket } from './s3-bucket.js';
import type { S3Paths } from './s3-paths.js';
import { DEFAULT_TUNING, type S3Tuning } from './s3-tuning.js';
import { decodeState, encodeState, type UploadState } from './upload-state.js';

/** Running hashes kept at most: a dropped one only costs a re-hash. */
const HASHES_KEPT = 256;
/** A state object is a few hundred bytes per 100 pieces; anything larger is not one. */
const MAX_STATE_BYTES = 4 * 1024 * 1024;

interface RunningHash {
  hash: Hash;
  version: number;
}

export class S3UploadStore implements UploadStore {
  private readonly hashes = new Map<string, RunningHash>();

  constructor(
    private readonly bucket: S3Bucket,
    private readonly paths: S3Paths,
    private readonly tuning: S3Tuning = DEFAULT_TUNING,
  ) {}

  async freeSpace(): Promise<number> {
    return Infinity;
  }

  async create(id: string): Promise<void> {
    await this.bucket.put(this.paths.uploadState(id), encodeState({ version: 0, size: 0, pieces: [] }));
    this.keepHash(id, { hash: createHash('sha256'), version: 0 });
  }

  private async state(id: string): Promise<UploadState | undefined> {
    const key = this.paths.uploadState(id);
    const bytes = await this.bucket.getBytes(key, MAX_STATE_BYTES, () => new Error(`${key} is too large for an upload state`));
    return bytes && decodeState(bytes, key);
  }

  async size(id: string): Promise<number | undefined> {
    return (await this.state(id))?.size;
  }

  async append(id: string, offset: number, source: Readable, limit = Infinity, landed: (length: number) => void = () => undefined): Promise<number> {
    const state = await this.state(id);
    if (!state) throw new Error(`upload session ${id} does not exist`);
    if (state.size !== offset) throw new Error(`upload session ${id} has ${state.size} bytes, not ${offset}`);
    let kept = state.pieces;
    let head: Buffer | undefined;
    const last = kept.at(-1);
    if (last && last.size < this.tuning.minPart) {
      head = await this.bucket.getBytes(last.key, last.size, () => new Error(`${last.key} grew`));
      if (head?.length !== last.size) throw new Error(`tail piece ${last.key} is missing or of another length`);
      kept = kept.slice(0, -1);
    }
    const headLength = head?.length ?? 0;
    const running = this.hashes.get(id);
    const hash = running?.version === state.version ? running.hash.copy() : state.size === 0 ? createHash('sha256') : undefined;
    const token = randomUUID().slice(0, 8);
    const written: string[] = [];
    const keyFor = (i: number): string => {
      const key = this.paths.uploadPiece(id, kept.length + i, token);
      written.push(key);
      return key;
    };
    let added: Piece[];
    let bytes: number;
    try {
      const result = await spoolPieces(this.bucket, source, {
        partSize: this.tuning.partSize,
        inFlight: this.tuning.inFlight,
        head,
        hash,
        limit,
        keyFor,
        stored: (_piece, stored) => landed(offset - headLength + stored),
      });
      bytes = result.sourceBytes;
      if (bytes === 0) return 0;
      added = result.pieces;
      if (result.rest.length > 0) {
        const key = keyFor(added.length);
        await this.bucket.put(key, result.rest);
        added = [...added, { key, size: result.rest.length }];
      }
      // The commit point: from here on the session has the new bytes.
      await this.bucket.put(this.paths.uploadState(id), encodeState({ version: state.version + 1, size: offset + bytes, pieces: [...kept, ...added] }));
    } catch (err) {
      await this.bucket.deleteMany(written).catch(() => undefined);
      throw err;
    }
    if (hash) this.keepHash(id, { hash, version: state.version + 1 });
    else this.hashes.delete(id);
    if (head && last) await this.bucket.delete(last.key).catch(() => undefined);
    landed(offset + bytes);
    return bytes;
  }

  async digest(id: string, algorithm: DigestAlgorithm): Promise<Digest> {
    const state = await this.state(id);
    if (!state) throw new Error(`upload session ${id} does not exist`);
    const running = this.hashes.get(id);
    if (algorithm === 'sha256' && running?.version === state.version) return `sha256:${running.hash.copy().digest('hex')}` as Digest;
    return hashPieces(this.bucket, state.pieces, algorithm);
  }

  async commit(id: string, digest: Digest): Promise<void> {
    const state = await this.state(id);
    if (!state) throw new Error(`upload session ${id} does not exist`);
    await this.bucket.assemble(state.pieces, this.paths.blob(digest));
    await this.remove(id);
  }

  async remove(id: string): Promise<void> {
    this.hashes.delete(id);
    const stateKey = this.paths.uploadState(id);
    const keys: string[] = [];
    for await (const o of this.bucket.list(this.paths.uploadDir(id))) if (o.key !== stateKey) keys.push(o.key);
    // Pieces first, the state last: a remove that dies half way leaves a session GC still lists.
    await this.bucket.deleteMany(keys);
    await this.bucket.delete(stateKey);
  }

  async *list(): AsyncIterable<UploadSession> {
    for await (const o of this.bucket.list(this.paths.uploads)) {
      const id = this.paths.sessionOfState(o.key);
      if (id === undefined) continue;
      const state = await this.state(id).catch(() => undefined);
      // A state that cannot be read is still a session to clean up.
      yield { id, size: state?.size ?? 0, modified: o.modified };
    }
  }

  private keepHash(id: string, running: RunningHash): void {
    this.hashes.delete(id);
    this.hashes.set(id, running);
    if (this.hashes.size > HASHES_KEPT) {
      const oldest = this.hashes.keys().next().value;
      if (oldest !== undefined) this.hashes.delete(oldest);
    }
  }
}
