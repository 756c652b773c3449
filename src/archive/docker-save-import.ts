/**
 * Imports a `docker save` archive in the legacy format that Docker before 25 (Debian's
 * docker.io 20.10), podman and skopeo's docker-archive write:
 *
 *   manifest.json         [{"Config":"<hex>.json","RepoTags":["team/app:v1"],"Layers":["<id>/layer.tar",...]}]
 *   <hex>.json            the image config; <hex> is the sha256 of its bytes (the image ID)
 *   <id>/layer.tar        uncompressed layers (a symlink to another layer's when docker saw it twice)
 *   <id>/json, VERSION    v1 metadata, ignored;  repositories   ignored
 *
 * The archive has no registry manifest, so one is built: an OCI image manifest whose config
 * is the config bytes as they are (so the image ID stays) and whose layers are the layer
 * files as they are. Each layer is checked against the config's rootfs.diff_ids: an
 * uncompressed layer's digest is its diff_id; a gzipped one is decompressed to check it.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { RegistryError } from '../primitives/errors.js';
import { OCI_MANIFEST } from '../primitives/media-types.js';
import { parseDigest, type Digest } from '../primitives/types.js';
import { digestBuffer } from '../primitives/digest.js';
import { invalidArchive, type StagedFile } from './archive-reader.js';
import { tagOfReference, type ImportedImage, type ImportSession } from './import-session.js';

export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

interface SavedImage {
  config: string;
  repoTags: string[];
  layers: string[];
}

interface LayerDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function savedImages(bytes: Buffer): SavedImage[] {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalidArchive('manifest.json in the archive is not valid JSON');
  }
  if (!Array.isArray(raw) || raw.length === 0) throw invalidArchive('manifest.json in the archive must be a non-empty array');
  return raw.map((item: unknown, i) => {
    const entry = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const { Config: config, RepoTags: repoTags, Layers: layers } = entry;
    if (typeof config !== 'string') throw invalidArchive(`manifest.json[${i}].Config must be a path`);
    if (!isStringArray(layers)) throw invalidArchive(`manifest.json[${i}].Layers must be a list of paths`);
    if (repoTags !== undefined && repoTags !== null && !isStringArray(repoTags)) throw invalidArchive(`manifest.json[${i}].RepoTags must be a list`);
    return { config, repoTags: repoTags ?? [], layers };
  });
}

function tagsOf(image: SavedImage): string[] {
  return image.repoTags.map(tagOfReference).filter((t): t is string => t !== undefined);
}

function selectImage(images: SavedImage[], requested: readonly string[]): SavedImage {
  if (images.length === 1) return images[0] as SavedImage;
  const named = images.filter((image) => tagsOf(image).some((t) => requested.includes(t)));
  if (named.length === 1) return named[0] as SavedImage;
  throw invalidArchive(`the archive holds ${images.length} images; import one at a time, or name one with a tag field matching its RepoTags`, {
    repoTags: images.flatMap((i) => i.repoTags).slice(0, 50),
  });
}

/** The digest a file's name promises: `<hex>.json`, `<hex>.tar`, `blobs/sha256/<hex>`. */
function digestFromName(path: string): Digest | undefined {
  const m = /(?:^|\/)([0-9a-f]{64})(?:\.json|\.tar)?$/.exec(path);
  return m ? parseDigest(`sha256:${m[1] as string}`) : undefined;
}

function diffIdsOf(config: Buffer): Digest[] {
  let raw: unknown;
  try {
    raw = JSON.parse(config.toString('utf8'));
  } catch {
    throw invalidArchive('the image config in the archive is not valid JSON');
  }
  const diffIds = (raw as { rootfs?: { diff_ids?: unknown } } | null)?.rootfs?.diff_ids;
  if (!isStringArray(diffIds)) throw invalidArchive('the image config in the archive has no rootfs.diff_ids');
  return diffIds.map((d) => {
    try {
      return parseDigest(d);
    } catch {
      throw invalidArchive('the image config in the archive has an invalid diff_id', { diff_id: d.slice(0, 100) });
    }
  });
}

/** sha256 of a stored gzipped blob's uncompressed content. */
async function uncompressedDigest(session: ImportSession, digest: Digest): Promise<Digest | undefined> {
  const hash = createHash('sha256');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback();
    },
  });
  try {
    await pipeline(await session.registry.blobs.open(digest), createGunzip(), sink);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code?.startsWith('Z_')) return undefined;
    throw err;
  }
  return `sha256:${hash.digest('hex')}` as Digest;
}

function staged(session: ImportSession, path: string, what: string): StagedFile {
  const file = session.contents.file(path);
  if (!file) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest.json names ${what} ${path.slice(0, 300)}, which the archive lacks`, { path: path.slice(0, 300) });
  return file;
}

async function storeLayer(session: ImportSession, path: string, diffId: Digest): Promise<LayerDescriptor> {
  const file = staged(session, path, 'layer');
  if (file.sha256 === diffId) {
    await session.commitBlob(file, diffId);
    return { mediaType: OCI_LAYER_TAR, digest: diffId, size: file.size };
  }
  if (file.gzip) {
    await session.commitBlob(file, file.sha256);
    if ((await uncompressedDigest(session, file.sha256)) === diffId) return { mediaType: OCI_LAYER_GZIP, digest: file.sha256, size: file.size };
  }
  throw new RegistryError('DIGEST_INVALID', `layer ${path.slice(0, 300)} in the archive does not match its diff_id in the image config`, {
    path: path.slice(0, 300),
    diff_id: diffId,
    actual: file.sha256,
  });
}

export async function importDockerSave(session: ImportSession): Promise<ImportedImage> {
  const manifestJson = session.contents.metadata.get('manifest.json');
  if (manifestJson === undefined) throw invalidArchive('the archive has no manifest.json');
  const image = selectImage(savedImages(manifestJson), session.requestedTags);
  const tags = session.chooseTags(tagsOf(image));

  const configFile = staged(session, image.config, 'config');
  const configDigest = digestFromName(normalized(image.config)) ?? configFile.sha256;
  const config = await session.readCommitted(configFile, configDigest, 'config');
  const diffIds = diffIdsOf(config);
  if (diffIds.length !== image.layers.length) {
    throw invalidArchive(`manifest.json lists ${image.layers.length} layers but the image config has ${diffIds.length} diff_ids`);
  }
  const layers: LayerDescriptor[] = [];
  for (const [i, path] of image.layers.entries()) layers.push(await storeLayer(session, path, diffIds[i] as Digest));

  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: configFile.size },
      layers,
    }),
  );
  const digest = digestBuffer(manifest);
  await session.putManifest(digest, OCI_MANIFEST, manifest);
  await session.tag(tags, OCI_MANIFEST, manifest);
  return session.result('docker-save', digest, OCI_MANIFEST, tags);
}

function normalized(path: string): string {
  return path.replace(/^\.?\/+/, '');
}
