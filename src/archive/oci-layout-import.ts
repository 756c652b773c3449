/**
 * Imports an OCI image layout tar (`skopeo copy ... oci-archive:`, Docker 25's `docker save`,
 * Keel's own export): `index.json` names the image, `blobs/<alg>/<hex>` hold manifests,
 * configs and layers under their digests. The manifests are stored byte for byte, so every
 * digest (the manifest's too) survives the trip; an index brings all its children.
 */
import { RegistryError } from '../primitives/errors.js';
import { parseManifest, type Descriptor, type ParsedManifest } from '../registry/manifest-parser.js';
import { MANIFEST_TYPES, OCI_INDEX } from '../primitives/media-types.js';
import { digestAlgorithm, digestHex, type Digest } from '../primitives/types.js';
import { invalidArchive } from './archive-reader.js';
import { tagOfReference, type ImportedImage, type ImportSession } from './import-session.js';

const REF_NAME = 'org.opencontainers.image.ref.name';
/** Index in index in index: deeper nesting is not something real images do. */
const MAX_DEPTH = 4;
const MAX_MANIFESTS = 1000;

interface IndexEntry {
  descriptor: Descriptor;
  name: string | undefined;
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    throw invalidArchive(`${what} in the archive is not valid JSON`);
  }
}

function checkLayoutVersion(bytes: Buffer | undefined): void {
  if (bytes === undefined) return;
  const layout = parseJson(bytes, 'oci-layout') as { imageLayoutVersion?: unknown } | null;
  const version = layout?.imageLayoutVersion;
  if (typeof version !== 'string' || !version.startsWith('1.')) {
    throw new RegistryError('UNSUPPORTED', `unsupported OCI image layout version ${String(version).slice(0, 40)}`, undefined, 400);
  }
}

/** The entries of index.json, read with the same rules as a pushed index. */
function indexEntries(bytes: Buffer): IndexEntry[] {
  const raw = parseJson(bytes, 'index.json') as { manifests?: unknown } | null;
  let parsed: ParsedManifest;
  try {
    parsed = parseManifest(bytes, OCI_INDEX);
  } catch (err) {
    throw invalidArchive(`index.json in the archive is not a valid image index: ${(err as Error).message}`);
  }
  const rawEntries = Array.isArray(raw?.manifests) ? (raw.manifests as { annotations?: Record<string, unknown> }[]) : [];
  return parsed.manifests.map((descriptor, i) => {
    const name = rawEntries[i]?.annotations?.[REF_NAME];
    return { descriptor, name: typeof name === 'string' ? name : undefined };
  });
}

/** The tag part of a ref.name: a plain tag, or the tag of a full reference. */
function tagOfName(name: string): string {
  return name.includes('/') || name.includes('@') ? (tagOfReference(name) ?? '') : name;
}

function selectEntry(entries: IndexEntry[], requested: readonly string[]): IndexEntry {
  const images = entries.filter((e) => MANIFEST_TYPES.has(e.descriptor.mediaType));
  if (images.length === 1) return images[0] as IndexEntry;
  if (images.length === 0) throw invalidArchive('index.json in the archive names no image manifest or index');
  const named = images.filter((e) => e.name !== undefined && requested.includes(tagOfName(e.name)));
  const distinct = new Set(named.map((e) => e.descriptor.digest));
  if (distinct.size === 1) return named[0] as IndexEntry;
  throw invalidArchive(`the archive holds ${images.length} images; import one at a time, or name one with a tag field matching its ${REF_NAME}`, {
    names: images.map((e) => e.name ?? e.descriptor.digest).slice(0, 50),
  });
}

function blobPath(digest: Digest): string {
  return `blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

class LayoutImport {
  private readonly stored = new Set<Digest>();

  constructor(private readonly session: ImportSession) {}

  /** Stores a manifest and, first, everything it references. Returns its bytes. */
  async store(descriptor: Descriptor, depth: number): Promise<Buffer> {
    if (depth > MAX_DEPTH) throw invalidArchive('image indexes in the archive are nested too deeply');
    if (this.stored.size >= MAX_MANIFESTS) throw invalidArchive(`the archive holds more than ${MAX_MANIFESTS} manifests`);
    const file = this.session.contents.file(blobPath(descriptor.digest));
    if (!file) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `the archive lacks manifest ${descriptor.digest}`, { digest: descriptor.digest });
    }
    this.checkSize(file.size, descriptor);
    const bytes = await this.session.readCommitted(file, descriptor.digest, 'manifest');
    const parsed = parseManifest(bytes, MANIFEST_TYPES.has(descriptor.mediaType) ? descriptor.mediaType : undefined);
    for (const child of parsed.manifests) {
      if (!this.stored.has(child.digest)) await this.store(child, depth + 1);
    }
    for (const blob of parsed.blobs) await this.storeBlob(blob, descriptor.digest);
    await this.session.putManifest(descriptor.digest, parsed.mediaType, bytes);
    this.stored.add(descriptor.digest);
    return bytes;
  }

  private async storeBlob(blob: Descriptor, manifest: Digest): Promise<void> {
    const file = this.session.contents.file(blobPath(blob.digest));
    if (file) {
      this.checkSize(file.size, blob);
      await this.session.commitBlob(file, blob.digest);
    } else if (!(await this.session.hasBlob(blob.digest))) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `the archive lacks blob ${blob.digest} of manifest ${manifest}`, { digest: blob.digest, manifest });
    }
  }

  private checkSize(size: number, descriptor: Descriptor): void {
    if (size !== descriptor.size) {
      throw invalidArchive(`${blobPath(descriptor.digest)} in the archive has ${size} bytes, its descriptor says ${descriptor.size}`, {
        digest: descriptor.digest,
      });
    }
  }
}

export async function importOciLayout(session: ImportSession): Promise<ImportedImage> {
  const { metadata } = session.contents;
  checkLayoutVersion(metadata.get('oci-layout'));
  const index = metadata.get('index.json');
  if (index === undefined) throw invalidArchive('the archive has no index.json');
  const entry = selectEntry(indexEntries(index), session.requestedTags);
  const tags = session.chooseTags(entry.name === undefined ? [] : [tagOfName(entry.name)]);
  const bytes = await new LayoutImport(session).store(entry.descriptor, 0);
  const mediaType = parseManifest(bytes, MANIFEST_TYPES.has(entry.descriptor.mediaType) ? entry.descriptor.mediaType : undefined).mediaType;
  await session.tag(tags, mediaType, bytes);
  return session.result('oci-layout', entry.descriptor.digest, mediaType, tags);
}
