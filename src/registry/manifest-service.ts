/**
 * Manifests by tag or digest. A pushed manifest is capped in size, parsed, checked against
 * what the repository holds (MANIFEST_BLOB_UNKNOWN for a missing blob or child manifest),
 * stored byte for byte in the content store and recorded with its references in the index.
 */
import type { Readable } from 'node:stream';
import type { BlobStore } from '../storage/blob-store.js';
import { BlobNotFoundError } from '../storage/storage-errors.js';
import type { ManifestRecord, ManifestReference, RegistryIndex } from '../storage/registry-index.js';
import type { Clock } from '../primitives/clock.js';
import { digestBuffer } from '../primitives/digest.js';
import { RegistryError } from '../primitives/errors.js';
import { parseManifest, type ParsedManifest } from './manifest-parser.js';
import { readCapped } from '../primitives/read-capped.js';
import { RepoCache } from './repo-cache.js';
import type { RepositoryMemory } from './repository-service.js';
import { digestAlgorithm, type Digest, type Reference, type RepoName, type Tag } from '../primitives/types.js';

export interface StoredManifest {
  record: ManifestRecord;
  bytes: Buffer;
}

export interface PushedManifest {
  digest: Digest;
  subject: Digest | null;
}

function unknownManifest(repo: RepoName, ref: Reference): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', {
    name: repo,
    ...(ref.kind === 'tag' ? { tag: ref.tag } : { digest: ref.digest }),
  });
}

export class ManifestService implements RepositoryMemory {
  private readonly tags: RepoCache<ManifestRecord>;

  constructor(
    private readonly index: RegistryIndex,
    private readonly content: BlobStore,
    private readonly clock: Clock,
    private readonly maxSize: number,
    cacheMs?: number,
    /** Told of every GET or HEAD that found its manifest (the listings' last pull, pull-recorder.ts). */
    private readonly onPulled: (repo: RepoName) => void = () => undefined,
  ) {
    this.tags = new RepoCache<ManifestRecord>(clock, cacheMs);
  }

  /** A HEAD: the manifest's record (a pull, for the listings' last pull time). */
  async stat(repo: RepoName, ref: Reference): Promise<ManifestRecord> {
    const record = await this.find(repo, ref);
    this.onPulled(repo);
    return record;
  }

  private async find(repo: RepoName, ref: Reference): Promise<ManifestRecord> {
    const record = ref.kind === 'tag' ? await this.resolveTag(repo, ref.tag) : await this.index.getManifest(repo, ref.digest);
    if (!record) throw unknownManifest(repo, ref);
    return record;
  }

  async get(repo: RepoName, ref: Reference): Promise<StoredManifest> {
    // A tag remembered a moment ago skips two async steps: this is every `docker pull`.
    const record = (ref.kind === 'tag' ? this.tags.get(repo, ref.tag) : undefined) ?? (await this.find(repo, ref));
    this.onPulled(repo);
    try {
      return { record, bytes: await this.content.readBytes(record.digest, Math.max(record.size, this.maxSize)) };
    } catch (err) {
      if (err instanceof BlobNotFoundError) throw unknownManifest(repo, ref);
      throw err;
    }
  }

  private async resolveTag(repo: RepoName, tag: Tag): Promise<ManifestRecord | undefined> {
    const cached = this.tags.get(repo, tag);
    if (cached) return cached;
    const generation = this.tags.generation(repo);
    const record = await this.index.resolveTag(repo, tag);
    if (record) this.tags.set(repo, tag, record, generation);
    return record;
  }

  async put(repo: RepoName, ref: Reference, contentType: string | undefined, body: Readable): Promise<PushedManifest> {
    const bytes = await readCapped(body, this.maxSize);
    const parsed = parseManifest(bytes, contentType);
    const digest = digestBuffer(bytes, ref.kind === 'digest' ? digestAlgorithm(ref.digest) : 'sha256');
    if (ref.kind === 'digest' && ref.digest !== digest) {
      throw new RegistryError('DIGEST_INVALID', 'manifest digest does not match its content', { expected: ref.digest, actual: digest });
    }
    await this.checkReferences(repo, parsed);
    if ((await this.content.size(digest)) !== bytes.length) await this.content.writeBytes(digest, bytes);
    const record: ManifestRecord = {
      digest,
      mediaType: parsed.mediaType,
      size: bytes.length,
      artifactType: parsed.artifactType,
      subject: parsed.subject?.digest ?? null,
      annotations: parsed.annotations ? JSON.stringify(parsed.annotations) : null,
    };
    const references: ManifestReference[] = [
      ...parsed.blobs.map((d) => ({ digest: d.digest, kind: 'blob' as const })),
      ...parsed.manifests.map((d) => ({ digest: d.digest, kind: 'manifest' as const })),
    ];
    const missing = await this.index.putManifest(repo, record, references, ref.kind === 'tag' ? ref.tag : undefined, this.clock.now());
    this.tags.forget(repo);
    if (missing) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references a ${missing.kind} unknown to this repository`, { digest: missing.digest });
    }
    return { digest, subject: record.subject };
  }

  /** By digest: the manifest and every tag on it. By tag: only the tag. */
  async delete(repo: RepoName, ref: Reference): Promise<void> {
    const deleted = ref.kind === 'tag' ? await this.index.deleteTag(repo, ref.tag) : await this.index.deleteManifest(repo, ref.digest);
    this.tags.forget(repo);
    if (!deleted) throw unknownManifest(repo, ref);
  }

  /** Drops what this service remembers of the repository (it was deleted as a whole). */
  forgetRepository(repo: RepoName): void {
    this.tags.forget(repo);
  }

  private async checkReferences(repo: RepoName, parsed: ParsedManifest): Promise<void> {
    const sizes = await this.index.repositoryBlobSizes(repo, parsed.blobs.map((d) => d.digest));
    for (const blob of parsed.blobs) {
      const size = sizes.get(blob.digest);
      if (size === undefined) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'manifest references a blob unknown to this repository', { digest: blob.digest });
      if (size !== blob.size) {
        throw new RegistryError('MANIFEST_INVALID', `descriptor size ${blob.size} does not match the stored blob's ${size} bytes`, { digest: blob.digest });
      }
    }
    const present = await this.index.existingManifests(repo, parsed.manifests.map((d) => d.digest));
    const missing = parsed.manifests.find((d) => !present.has(d.digest));
    if (missing) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'index references a manifest unknown to this repository', { digest: missing.digest });
    }
  }
}
