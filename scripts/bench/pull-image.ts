/**
 * A fresh image for the docker pull part, pushed to a registry: N layers, each a real gzip'd
 * tar holding one file of random (incompressible) bytes, a Docker image config whose
 * rootfs.diff_ids are the sha256 of each uncompressed tar (dockerd checks them), and a Docker
 * schema 2 manifest, the kind `docker push` writes. Each layer is streamed (random bytes →
 * tar → gzip → a file), hashed on the way, then sent with curl from that file and deleted:
 * a 100 MiB layer is never held in memory, and the client stays light.
 *
 * Files under `dir`: layer-<i>.tar.gz while it is built and pushed (deleted once pushed).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { TAR_END, tarHeader, tarPadding } from '../../test/support/e2e/tar.js';
import { curlPut } from './curl-put.js';
import type { RegistryClient } from './registry-client.js';
import { MiB } from './settings.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
/**
 * Level 0 (stored deflate blocks, still a gzip stream docker inflates and checks): random data
 * is stored at any level anyway (level 1's output here is stored blocks of ~16 KiB, 0.03%
 * bigger than the input), but level 1 spends 65 ms per MiB finding that out, 20 s per
 * 300 MiB image on this machine, against 5 ms per MiB at level 0.
 */
const GZIP_LEVEL = 0;

export interface PushedImage {
  repo: string;
  tag: string;
  manifestDigest: string;
  configDigest: string;
  /** Digests of the gzip'd layers, in order. */
  layers: readonly string[];
  /** sha256 of each uncompressed tar (the config's rootfs.diff_ids, what dockerd lists as RootFS.Layers). */
  diffIds: readonly string[];
  /** Bytes docker downloads: the gzip'd layers (the config and manifest are a few hundred bytes). */
  compressedBytes: number;
}

/** Passes bytes through while hashing them and counting them. */
class Digester extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** A tar holding `dir/` and `dir/random.bin` of `size` random bytes, as a stream. */
function randomTar(dir: string, size: number): Readable {
  function* parts(): Generator<Buffer> {
    yield tarHeader({ path: `${dir}/` });
    yield tarHeader({ path: `${dir}/random.bin` }, size);
    for (let left = size; left > 0; left -= MiB) yield randomBytes(Math.min(MiB, left));
    yield tarPadding(size);
    yield TAR_END;
  }
  return Readable.from(parts(), { objectMode: false });
}

/** Builds one layer into `file`; resolves with its digest, size and diff_id. */
async function writeLayer(file: string, size: number): Promise<{ digest: string; size: number; diffId: string }> {
  const tar = new Digester();
  const gz = new Digester();
  await pipeline(randomTar(`keel-bench-${randomBytes(6).toString('hex')}`, size), tar, createGzip({ level: GZIP_LEVEL }), gz, createWriteStream(file));
  const { size: onDisk } = await stat(file);
  if (onDisk !== gz.bytes) throw new Error(`${file}: ${onDisk} bytes on disk, ${gz.bytes} written`);
  return { digest: gz.digest(), size: gz.bytes, diffId: tar.digest() };
}

/** POST, then curl -T the file as the PUT ?digest= (the registry answers 201 once it has verified it). */
async function pushFile(client: RegistryClient, repo: string, digest: string, file: string): Promise<void> {
  const reply = await client.expect(202, 'POST', `/v2/${repo}/blobs/uploads/`);
  const location = reply.headers.location;
  if (location === undefined) throw new Error(`POST /v2/${repo}/blobs/uploads/: no Location header`);
  const url = client.url(location);
  url.searchParams.set('digest', digest);
  const { status } = await curlPut(url.href, file, { 'Content-Type': 'application/octet-stream' });
  if (status !== 201) throw new Error(`PUT ${url.href} (curl -T ${file}): expected 201, got ${status}`);
}

/** Builds a fresh image of `layerSizes` (bytes of random data per layer) and pushes it as `repo:tag`. */
export async function pushFreshImage(client: RegistryClient, dir: string, repo: string, tag: string, layerSizes: readonly number[]): Promise<PushedImage> {
  const layers: { digest: string; size: number; diffId: string }[] = [];
  for (const [i, size] of layerSizes.entries()) {
    const file = join(dir, `layer-${i}.tar.gz`);
    try {
      const layer = await writeLayer(file, size);
      await pushFile(client, repo, layer.digest, file);
      layers.push(layer);
    } finally {
      await rm(file, { force: true });
    }
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: { Env: ['PATH=/usr/local/bin:/usr/bin:/bin'], Labels: { 'dev.keel.bench.id': randomBytes(8).toString('hex') } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `keel bench layer ${i}` })),
    }),
  );
  const configDigest = await client.pushBytes(repo, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { mediaType: DOCKER_CONFIG, size: config.length, digest: configDigest },
    layers: layers.map((l) => ({ mediaType: DOCKER_LAYER, size: l.size, digest: l.digest })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  await client.expect(201, 'PUT', `/v2/${repo}/manifests/${tag}`, { 'Content-Type': DOCKER_MANIFEST, 'Content-Length': manifestBytes.length }, manifestBytes);
  return {
    repo,
    tag,
    manifestDigest: `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`,
    configDigest,
    layers: layers.map((l) => l.digest),
    diffIds: layers.map((l) => l.diffId),
    compressedBytes: layers.reduce((sum, l) => sum + l.size, 0),
  };
}
