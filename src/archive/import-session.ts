/**
 * One import into one repository, as both archive formats need it: blobs committed from the
 * staged archive files (counted for the answer), manifests read back from the store and
 * pushed through ManifestService.put like any client's (so MANIFEST_BLOB_UNKNOWN,
 * MANIFEST_INVALID and the size limits apply), and tags set last, once everything they
 * point at is stored: a failed import leaves no tag behind.
 */
import { Readable } from 'node:stream';
import { RegistryError } from '../primitives/errors.js';
import { readCapped } from '../primitives/read-capped.js';
import type { Registry } from '../registry/registry.js';
import { isTag, type Digest, type RepoName, type Tag } from '../primitives/types.js';
import type { ArchiveContents, StagedFile } from './archive-reader.js';

/** The registry services an import goes through: the same ones a push uses. */
export type ImportRegistry = Pick<Registry, 'uploads' | 'manifests' | 'blobs'>;

export type ArchiveFormat = 'docker-save' | 'oci-layout';

export interface ImportedImage {
  format: ArchiveFormat;
  /** The manifest (or index) the tags point at. */
  digest: Digest;
  mediaType: string;
  tags: Tag[];
  /** Every manifest stored, the tagged one first. */
  manifests: Digest[];
  /** Config and layer blobs taken from the archive (distinct digests). */
  blobs: { count: number; bytes: number };
}

export class ImportSession {
  private readonly blobSizes = new Map<Digest, number>();
  private readonly manifests: Digest[] = [];
  /** Manifests committed as blobs to be read back, whose blob link the repository did not have before. */
  private readonly manifestLinks = new Set<Digest>();

  constructor(
    readonly registry: ImportRegistry,
    readonly repo: RepoName,
    readonly contents: ArchiveContents,
    /** Tags asked for; when empty, the archive's own names are used. */
    readonly requestedTags: readonly Tag[],
    readonly maxManifestSize: number,
  ) {}

  /** Commits a config or layer from the archive under `digest`. */
  async commitBlob(file: StagedFile, digest: Digest): Promise<void> {
    await this.contents.commit(file, digest);
    this.blobSizes.set(digest, file.size);
  }

  /** Whether the repository can already see `digest` (a blob the archive may leave out). */
  async hasBlob(digest: Digest): Promise<boolean> {
    try {
      await this.registry.blobs.stat(this.repo, digest);
      return true;
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'BLOB_UNKNOWN') return false;
      throw err;
    }
  }

  /** Commits a small JSON file (config, manifest) under `digest` and reads it back from the store, capped. */
  async readCommitted(file: StagedFile, digest: Digest, kind: 'config' | 'manifest'): Promise<Buffer> {
    if (file.size > this.maxManifestSize) {
      throw new RegistryError('MANIFEST_INVALID', `the ${kind} ${file.path} is larger than the limit of ${this.maxManifestSize} bytes`, { limit: this.maxManifestSize });
    }
    if (kind === 'manifest' && !(await this.hasBlob(digest))) this.manifestLinks.add(digest);
    if (kind === 'config') await this.commitBlob(file, digest);
    else await this.contents.commit(file, digest);
    return readCapped(await this.registry.blobs.open(digest), this.maxManifestSize);
  }

  /** Pushes a manifest by digest (children before the index that lists them). */
  async putManifest(digest: Digest, mediaType: string, bytes: Buffer): Promise<void> {
    await this.registry.manifests.put(this.repo, { kind: 'digest', digest }, mediaType, Readable.from([bytes]));
    if (!this.manifests.includes(digest)) this.manifests.push(digest);
  }

  /** Points each tag at the stored manifest, last of all. */
  async tag(tags: readonly Tag[], mediaType: string, bytes: Buffer): Promise<void> {
    for (const tag of tags) {
      await this.registry.manifests.put(this.repo, { kind: 'tag', tag }, mediaType, Readable.from([bytes]));
    }
  }

  /** The tags to set: those asked for, else the archive's own; at least one. */
  chooseTags(fromArchive: readonly string[]): Tag[] {
    if (this.requestedTags.length > 0) return [...this.requestedTags];
    const own = [...new Set(fromArchive.filter(isTag))] as Tag[];
    if (own.length === 0) {
      throw new RegistryError('MANIFEST_INVALID', 'no tag: give one or more tag form fields (the archive names no tag of its own)');
    }
    return own;
  }

  result(format: ArchiveFormat, digest: Digest, mediaType: string, tags: Tag[]): ImportedImage {
    const manifests = [digest, ...this.manifests.filter((d) => d !== digest)];
    let bytes = 0;
    for (const size of this.blobSizes.values()) bytes += size;
    return { format, digest, mediaType, tags, manifests, blobs: { count: this.blobSizes.size, bytes } };
  }

  /** Drops the blob links that reading manifests back added, so the index looks as after a push. */
  async close(): Promise<void> {
    for (const digest of this.manifestLinks) await this.registry.blobs.delete(this.repo, digest).catch(() => undefined);
    this.manifestLinks.clear();
  }
}

/** The tag part of a reference such as `team/app:v1` or `docker.io/library/app:latest`. */
export function tagOfReference(reference: string): string | undefined {
  const colon = reference.lastIndexOf(':');
  if (colon < 0 || reference.indexOf('/', colon) >= 0 || reference.includes('@')) return undefined;
  return reference.slice(colon + 1);
}
