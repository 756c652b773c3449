/**
 * GET /api/v1/export's domain side: one tagged image (or index, with all its children) of a
 * repository as a tar that both kinds of loader read:
 *
 *   oci-layout               {"imageLayoutVersion":"1.0.0"}
 *   index.json               the manifest, annotated org.opencontainers.image.ref.name=<tag>
 *   manifest.json            [{"Config":"blobs/sha256/<hex>","RepoTags":["<name>:<tag>"],"Layers":[...]}]
 *   blobs/sha256/<hex>       manifests, configs and layers, each once
 *
 * `skopeo copy oci-archive:` reads the OCI layout; `docker load` before Docker 25 (which
 * cannot read OCI layouts) reads manifest.json, as Docker 25's own `docker save` writes it,
 * and decompresses gzipped layers itself. For an index, manifest.json names one image: the
 * one for the requested platform, else linux/amd64, else the first.
 *
 * Everything is looked up before the first byte is sent, so a missing manifest or blob is
 * an error answer, not a cut-off tar; the tar's size is known up front. Blobs stream from
 * the content store; the tar is written with tar-stream (fixed mtime, so the same image
 * always exports to the same bytes).
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { RegistryError } from '../primitives/errors.js';
import { matchesPlatform, platformsOf, type Platform } from '../primitives/platform.js';
import { parseManifest } from '../registry/manifest-parser.js';
import { IMAGE_MANIFEST_TYPES, OCI_INDEX } from '../primitives/media-types.js';
import type { Registry } from '../registry/registry.js';
import { digestAlgorithm, digestHex, type Digest, type Reference, type RepoName } from '../primitives/types.js';

export type ExportRegistry = Pick<Registry, 'manifests' | 'blobs'>;

export type { Platform };

interface ExportFile {
  name: string;
  size: number;
  /** Small generated or manifest content; otherwise the blob `digest` is streamed from the store. */
  bytes?: Buffer;
  digest?: Digest;
}

export interface ExportPlan {
  /** The exported manifest or index. */
  digest: Digest;
  mediaType: string;
  files: ExportFile[];
  /** Bytes of the whole tar. */
  size: number;
}

interface ImageNode {
  digest: Digest;
  platform: Platform | undefined;
  config: Digest;
  layers: Digest[];
}

const BLOCK = 512;
const MTIME = new Date(0);
const MAX_DEPTH = 4;
const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

function blobName(digest: Digest): string {
  return `blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

function tarSize(files: readonly ExportFile[]): number {
  // A header block per file, content padded to whole blocks, two zero blocks at the end.
  return files.reduce((n, f) => n + BLOCK + Math.ceil(f.size / BLOCK) * BLOCK, 2 * BLOCK);
}


class Planner {
  readonly files: ExportFile[] = [];
  readonly images: ImageNode[] = [];
  private readonly seen = new Set<Digest>();

  constructor(
    private readonly registry: ExportRegistry,
    private readonly repo: RepoName,
  ) {}

  async addManifest(digest: Digest, bytes: Buffer, mediaType: string, platform: Platform | undefined, depth: number): Promise<void> {
    if (this.seen.has(digest)) return;
    this.seen.add(digest);
    this.files.push({ name: blobName(digest), size: bytes.length, bytes });
    const parsed = parseManifest(bytes, mediaType);
    if (IMAGE_MANIFEST_TYPES.has(parsed.mediaType)) {
      const [config, ...layers] = parsed.blobs;
      if (config) this.images.push({ digest, platform, config: config.digest, layers: layers.map((l) => l.digest) });
    }
    for (const blob of parsed.blobs) await this.addBlob(blob.digest);
    if (parsed.manifests.length > 0 && depth >= MAX_DEPTH) throw new RegistryError('MANIFEST_INVALID', 'image indexes are nested too deeply to export');
    const platforms = parsed.manifests.length > 0 ? platformsOf(bytes) : new Map<Digest, Platform>();
    for (const child of parsed.manifests) {
      const stored = await this.registry.manifests.get(this.repo, { kind: 'digest', digest: child.digest });
      await this.addManifest(child.digest, stored.bytes, stored.record.mediaType, platforms.get(child.digest), depth + 1);
    }
  }

  private async addBlob(digest: Digest): Promise<void> {
    if (this.seen.has(digest)) return;
    this.seen.add(digest);
    this.files.push({ name: blobName(digest), size: await this.registry.blobs.stat(this.repo, digest), digest });
  }
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** Looks up everything `repo` `ref` needs; MANIFEST_UNKNOWN or BLOB_UNKNOWN when something is missing. */
export async function planExport(registry: ExportRegistry, repo: RepoName, ref: Reference, platform?: Platform): Promise<ExportPlan> {
  const root = await registry.manifests.get(repo, ref);
  const { digest, mediaType, size } = root.record;
  const planner = new Planner(registry, repo);
  await planner.addManifest(digest, root.bytes, mediaType, undefined, 0);

  const tag = ref.kind === 'tag' ? ref.tag : undefined;
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ mediaType, digest, size, ...(tag ? { annotations: { 'org.opencontainers.image.ref.name': tag } } : {}) }],
  };
  const image =
    planner.images.find((i) => i.digest === digest) ??
    planner.images.find((i) => matchesPlatform(i.platform, platform ?? DEFAULT_PLATFORM)) ??
    planner.images[0];
  const docker = image
    ? [{ Config: blobName(image.config), RepoTags: tag ? [`${repo}:${tag}`] : [], Layers: image.layers.map(blobName) }]
    : [];
  const metadata: ExportFile[] = [
    { name: 'oci-layout', bytes: json({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', bytes: json(index) },
    ...(docker.length > 0 ? [{ name: 'manifest.json', bytes: json(docker) }] : []),
  ].map((f) => ({ ...f, size: f.bytes.length }));
  const files = [...metadata, ...planner.files];
  return { digest, mediaType, files, size: tarSize(files) };
}

function addBytes(pack: tar.Pack, name: string, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, size: bytes.length, mtime: MTIME, mode: 0o644 }, bytes, (err) => (err ? reject(err) : resolve()));
  });
}

/** Writes the planned tar to `sink`, streaming each blob from the content store. */
export async function writeExport(registry: ExportRegistry, plan: ExportPlan, sink: Writable): Promise<void> {
  const pack = tar.pack();
  const sending = pipeline(pack, sink);
  // A client that leaves rejects `sending` while a blob is still being copied, before the
  // awaits below reach it; unmarked, that rejection counts as unhandled, which ends the
  // process (Node 24 settles the two in that order). It is still awaited and thrown below.
  sending.catch(() => undefined);
  try {
    for (const file of plan.files) {
      if (file.bytes) {
        await addBytes(pack, file.name, file.bytes);
      } else if (file.digest) {
        await pipeline(await registry.blobs.open(file.digest), pack.entry({ name: file.name, size: file.size, mtime: MTIME, mode: 0o644 }));
      }
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await sending.catch(() => undefined);
    throw err;
  }
  await sending;
}
