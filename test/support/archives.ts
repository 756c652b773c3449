// Image archives for import/export tests, built and read in memory with tar-stream: legacy
// `docker save` archives (manifest.json, <hex>.json config, <id>/layer.tar), OCI layout
// tars (oci-layout, index.json, blobs/sha256/<hex>), and the multipart POST that imports them.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { fetchBody } from './fetch-body.js';

export interface TarFile {
  name: string;
  data?: Buffer;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export async function tarOf(files: readonly TarFile[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const f of files) {
    const type = f.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry({ name: f.name, mtime: new Date(0) }, f.data ?? Buffer.alloc(0), cb);
      else pack.entry({ name: f.name, type, mtime: new Date(0), ...(f.linkname ? { linkname: f.linkname } : {}) }, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Every regular file of a tar, by name. */
export async function readTar(bytes: Buffer): Promise<Map<string, Buffer>> {
  const extract = tar.extract();
  const files = new Map<string, Buffer>();
  const feeding = pipeline(Readable.from([bytes]), extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (entry.header.type === 'file') files.set(entry.header.name, Buffer.concat(chunks));
  }
  await feeding;
  return files;
}

/** A layer: an uncompressed tar holding one file of random bytes. */
export async function randomLayer(size = 4096): Promise<Buffer> {
  return tarOf([{ name: `keel-${randomBytes(4).toString('hex')}.bin`, data: randomBytes(size) }]);
}

export function imageConfig(diffIds: readonly string[], extra: object = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { nonce: randomBytes(6).toString('hex') } },
      rootfs: { type: 'layers', diff_ids: diffIds },
      ...extra,
    }),
  );
}

export interface DockerSaveOptions {
  layers: Buffer[];
  repoTags?: string[];
  /** Index of layers written as a symlink to the first layer's layer.tar (docker does this for repeats). */
  symlinkRepeats?: boolean;
  /** Gzip the layer files (what some tools write; the config still lists uncompressed diff_ids). */
  gzipLayers?: boolean;
  config?: Buffer;
}

export interface BuiltDockerSave {
  archive: Buffer;
  config: Buffer;
  configDigest: string;
  diffIds: string[];
}

/** A legacy `docker save` archive as Docker 20.10 writes it (files in lexical order, manifest.json last). */
export async function dockerSave(opts: DockerSaveOptions): Promise<BuiltDockerSave> {
  const diffIds = opts.layers.map((l) => sha256(l));
  const config = opts.config ?? imageConfig(diffIds);
  const configDigest = sha256(config);
  const files: TarFile[] = [];
  const layerPaths: string[] = [];
  const firstPath = new Map<string, string>();
  opts.layers.forEach((layer, i) => {
    const id = hexOf(sha256(`${i}:${diffIds[i] ?? ''}`));
    const path = `${id}/layer.tar`;
    layerPaths.push(path);
    files.push({ name: `${id}/`, type: 'directory' });
    files.push({ name: `${id}/VERSION`, data: Buffer.from('1.0') });
    files.push({ name: `${id}/json`, data: Buffer.from(JSON.stringify({ id })) });
    const earlier = firstPath.get(diffIds[i] as string);
    if (opts.symlinkRepeats && earlier) {
      files.push({ name: path, type: 'symlink', linkname: `../${earlier}` });
    } else {
      files.push({ name: path, data: opts.gzipLayers ? gzipSync(layer) : layer });
      firstPath.set(diffIds[i] as string, path);
    }
  });
  files.push({ name: `${hexOf(configDigest)}.json`, data: config });
  files.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `${hexOf(configDigest)}.json`, RepoTags: opts.repoTags ?? null, Layers: layerPaths }])) });
  files.push({ name: 'repositories', data: Buffer.from('{}') });
  return { archive: await tarOf(files), config, configDigest, diffIds };
}

export interface ContentBlob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

export function blob(bytes: Buffer, mediaType: string): ContentBlob {
  return { mediaType, digest: sha256(bytes), size: bytes.length, bytes };
}

export function descriptorOf(b: ContentBlob, extra: object = {}): object {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size, ...extra };
}

export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
};

export interface OciImage {
  manifest: ContentBlob;
  config: ContentBlob;
  layers: ContentBlob[];
}

export function ociImage(layerCount = 2, platform = { architecture: 'amd64', os: 'linux' }): OciImage {
  const raw = Array.from({ length: layerCount }, () => randomBytes(3000));
  const layers = raw.map((r) => blob(gzipSync(r), MEDIA.layerGzip));
  const config = blob(imageConfig(raw.map((r) => sha256(r)), platform), MEDIA.config);
  const manifest = blob(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.manifest, config: descriptorOf(config), layers: layers.map((l) => descriptorOf(l)) })),
    MEDIA.manifest,
  );
  return { manifest, config, layers };
}

/** An image index over two images for linux/amd64 and linux/arm64; `all` is the index and every blob of both. */
export function twoPlatformIndex(amd: OciImage, arm: OciImage): { index: ContentBlob; all: ContentBlob[] } {
  const index = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.index,
        manifests: [descriptorOf(amd.manifest, { platform: { architecture: 'amd64', os: 'linux' } }), descriptorOf(arm.manifest, { platform: { architecture: 'arm64', os: 'linux' } })],
      }),
    ),
    MEDIA.index,
  );
  return { index, all: [index, amd.manifest, amd.config, ...amd.layers, arm.manifest, arm.config, ...arm.layers] };
}

/** An OCI layout tar holding `blobs`, with index.json naming `root` (ref.name `name`, if given). */
export async function ociLayout(root: ContentBlob, blobs: readonly ContentBlob[], name?: string): Promise<Buffer> {
  const index = { schemaVersion: 2, mediaType: MEDIA.index, manifests: [descriptorOf(root, name ? { annotations: { 'org.opencontainers.image.ref.name': name } } : {})] };
  const unique = new Map(blobs.map((b) => [b.digest, b]));
  return tarOf([
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    ...[...unique.values()].map((b) => ({ name: `blobs/sha256/${hexOf(b.digest)}`, data: b.bytes })),
    { name: 'index.json', data: Buffer.from(JSON.stringify(index)) },
    { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
  ]);
}

/** POST /api/v1/import with the fields in order, then the archive. */
export async function postImport(
  url: string,
  fields: ReadonlyArray<[string, string]>,
  archive: Buffer | globalThis.Blob | undefined,
  headers: Record<string, string> = {},
): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of fields) form.append(name, value);
  if (archive !== undefined) {
    const file = archive instanceof globalThis.Blob ? archive : new globalThis.Blob([fetchBody(archive)]);
    form.append('archive', file, 'image.tar');
  }
  return fetch(`${url}/api/v1/import`, { method: 'POST', body: form, headers });
}
