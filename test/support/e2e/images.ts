// Test images built offline: an OCI image layout on disk (the `oci:DIR:TAG` transport of
// skopeo), with random gzipped tar layers, a config whose rootfs.diff_ids are the sha256 of
// each uncompressed tar (docker and containerd check them on pull), image manifests and
// multi-platform indexes. Every digest is known up front, so a test can check that what a
// client pulled is bit-identical to what was pushed.
//
// On-disk layout (OCI image-layout 1.0):
//   DIR/oci-layout             {"imageLayoutVersion":"1.0.0"}
//   DIR/index.json             one descriptor per tag (org.opencontainers.image.ref.name)
//   DIR/blobs/sha256/<hex>     every layer, config, manifest and index
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Skopeo } from './skopeo.js';
import { tarArchive } from './tar.js';
import { makeTempDir, type TempDir } from './temp-dir.js';

export const MediaType = Object.freeze({
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  config: 'application/vnd.oci.image.config.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
});

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface BuiltLayer {
  /** The gzipped blob as it is stored and pushed. */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar, as listed in the config's rootfs.diff_ids. */
  diffId: string;
}

export interface BuiltImage {
  /** Descriptor of the manifest, with the platform filled in. */
  manifest: Descriptor;
  manifestBytes: Buffer;
  config: Descriptor;
  configBytes: Buffer;
  layers: BuiltLayer[];
  platform: Platform;
}

export interface BuiltIndex {
  descriptor: Descriptor;
  bytes: Buffer;
  images: BuiltImage[];
}

export interface AddImageOptions {
  /** Existing layers to reuse (shared bases), or how many new random layers to make. Default 2. */
  layers?: readonly BuiltLayer[] | number;
  /** Size of the random file inside each new layer. Default 256 KiB. */
  layerSize?: number;
  /** Default linux/amd64. */
  platform?: Platform;
  /** Also name the manifest in index.json under this tag. */
  tag?: string;
  /** Extra Labels in the image config. */
  labels?: Record<string, string>;
}

export const LINUX_AMD64: Platform = Object.freeze({ architecture: 'amd64', os: 'linux' });
export const LINUX_ARM64: Platform = Object.freeze({ architecture: 'arm64', os: 'linux', variant: 'v8' });

const DEFAULT_LAYER_SIZE = 256 * 1024;
const CREATED = '2024-01-01T00:00:00Z';

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Compact JSON, as registries and clients hash it: the bytes are what the digest covers. */
function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export class OciLayout {
  private readonly tags = new Map<string, Descriptor>();

  private constructor(
    readonly dir: string,
    private readonly temp: TempDir | undefined,
  ) {}

  /** A new, empty layout in `dir`, or in a fresh temp dir (deleted by remove()). */
  static async create(dir?: string): Promise<OciLayout> {
    let temp: TempDir | undefined;
    let root = dir;
    if (root === undefined) {
      temp = await makeTempDir('oci');
      root = temp.path;
    }
    await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const layout = new OciLayout(root, temp);
    await layout.writeIndex();
    return layout;
  }

  /** skopeo/podman reference to a tag in this layout. */
  ref(tag: string): string {
    return `oci:${this.dir}:${tag}`;
  }

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', ...digest.split(':'));
  }

  async addBlob(bytes: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = sha256(bytes);
    await writeFile(this.blobPath(digest), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** One gzipped layer holding a directory and a file of `size` random bytes. */
  async addRandomLayer(size = DEFAULT_LAYER_SIZE): Promise<BuiltLayer> {
    const id = randomBytes(6).toString('hex');
    const tar = tarArchive([
      { path: `keel-e2e-${id}/` },
      { path: `keel-e2e-${id}/random.bin`, data: randomBytes(size) },
    ]);
    const descriptor = await this.addBlob(gzipSync(tar), MediaType.layerGzip);
    return { descriptor, diffId: sha256(tar) };
  }

  async addImage(opts: AddImageOptions = {}): Promise<BuiltImage> {
    const platform = opts.platform ?? LINUX_AMD64;
    const layers: BuiltLayer[] = [];
    if (typeof opts.layers === 'number' || opts.layers === undefined) {
      for (let i = 0; i < (opts.layers ?? 2); i++) layers.push(await this.addRandomLayer(opts.layerSize));
    } else {
      layers.push(...opts.layers);
    }
    const configBytes = jsonBytes({
      created: CREATED,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant === undefined ? {} : { variant: platform.variant }),
      config: {
        Env: ['PATH=/usr/local/bin:/usr/bin:/bin'],
        // A random label keeps every image's config (and so its ID) distinct.
        Labels: { 'dev.keel.e2e.id': randomBytes(8).toString('hex'), ...opts.labels },
      },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created: CREATED, created_by: `keel e2e layer ${i}` })),
    });
    const config = await this.addBlob(configBytes, MediaType.config);
    const manifestBytes = jsonBytes({
      schemaVersion: 2,
      mediaType: MediaType.manifest,
      config,
      layers: layers.map((l) => l.descriptor),
    });
    const manifest = { ...(await this.addBlob(manifestBytes, MediaType.manifest)), platform };
    if (opts.tag !== undefined) await this.tag(opts.tag, manifest);
    return { manifest, manifestBytes, config, configBytes, layers, platform };
  }

  /** An image index over `images` (each with its platform), tagged `tag` if given. */
  async addIndex(images: readonly BuiltImage[], tag?: string): Promise<BuiltIndex> {
    const bytes = jsonBytes({
      schemaVersion: 2,
      mediaType: MediaType.index,
      manifests: images.map((i) => i.manifest),
    });
    const descriptor = await this.addBlob(bytes, MediaType.index);
    if (tag !== undefined) await this.tag(tag, descriptor);
    return { descriptor, bytes, images: [...images] };
  }

  /** Names `descriptor` in index.json (replacing an older entry with the same tag). */
  async tag(tag: string, descriptor: Descriptor): Promise<void> {
    const { platform: _platform, annotations: _annotations, ...plain } = descriptor;
    this.tags.set(tag, { ...plain, annotations: { 'org.opencontainers.image.ref.name': tag } });
    await this.writeIndex();
  }

  async remove(): Promise<void> {
    await this.temp?.remove();
  }

  private async writeIndex(): Promise<void> {
    const index = { schemaVersion: 2, mediaType: MediaType.index, manifests: [...this.tags.values()] };
    await writeFile(join(this.dir, 'index.json'), jsonBytes(index));
  }
}

/**
 * Writes tag `tag` of `layout` as a docker-archive tarball (for `docker load`), naming the
 * image `reference` (e.g. "e2e/app:v1") inside the archive.
 */
export async function toDockerArchive(
  skopeo: Skopeo,
  layout: OciLayout,
  tag: string,
  file: string,
  reference: string,
): Promise<void> {
  await skopeo.copy(layout.ref(tag), `docker-archive:${file}:${reference}`);
}
