/** Small helpers that speak the V2 API over real HTTP, for tests. */
import { createHash, randomBytes } from 'node:crypto';
import { fetchBody } from './fetch-body.js';

export { randomBytes };

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export async function errorCode(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { errors?: Array<{ code: string }> };
  return body.errors?.[0]?.code;
}

export class Client {
  /** `headers` go with every request (e.g. an Authorization for a registry with auth). */
  constructor(
    readonly url: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.url}${path}`, { redirect: 'manual', ...init, headers: { ...this.headers, ...(init?.headers as Record<string, string> | undefined) } });
  }

  /** Monolithic upload (POST ?digest=, or POST then PUT where a registry has no single-request upload). */
  async pushBlob(repo: string, data: Uint8Array | string): Promise<Descriptor> {
    const digest = sha256(data);
    let res = await this.fetch(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: typeof data === 'string' ? data : fetchBody(data) });
    if (res.status === 202) {
      const location = new URL(res.headers.get('location') as string, this.url);
      location.searchParams.set('digest', digest);
      res = await fetch(location, { method: 'PUT', body: typeof data === 'string' ? data : fetchBody(data), headers: this.headers });
    }
    if (res.status !== 201) throw new Error(`pushBlob: ${res.status} ${await res.text()}`);
    return { mediaType: 'application/octet-stream', digest, size: Buffer.byteLength(data) };
  }

  async pushManifest(repo: string, reference: string, manifest: object, mediaType: string): Promise<{ digest: string; bytes: string; res: Response }> {
    const bytes = JSON.stringify(manifest);
    const res = await this.fetch(`/v2/${repo}/manifests/${reference}`, {
      method: 'PUT',
      headers: { 'Content-Type': mediaType },
      body: bytes,
    });
    if (res.status !== 201) throw new Error(`pushManifest: ${res.status} ${await res.text()}`);
    return { digest: sha256(bytes), bytes, res };
  }

  /** Pushes an OCI index of pushed images under `tag`, each child with its platform. */
  async pushIndex(repo: string, tag: string, children: Array<{ image: { digest: string; manifest: object }; platform: object }>): Promise<{ digest: string; bytes: string; res: Response }> {
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map(({ image, platform }) => ({ mediaType: OCI_MANIFEST, digest: image.digest, size: JSON.stringify(image.manifest).length, platform })),
    };
    return this.pushManifest(repo, tag, index, OCI_INDEX);
  }

  /** Pushes a config and `layers` random layers, then an OCI manifest under `tag`. */
  async pushImage(repo: string, tag: string, options: { layers?: number; layerSize?: number; extra?: object } = {}): Promise<{ digest: string; manifest: object; blobs: Descriptor[] }> {
    const config = await this.pushBlob(repo, JSON.stringify({ architecture: 'amd64', os: 'linux', tag, nonce: Math.random() }));
    const layers: Descriptor[] = [];
    for (let i = 0; i < (options.layers ?? 2); i++) {
      const layer = await this.pushBlob(repo, randomBytes(options.layerSize ?? 1024));
      layers.push({ ...layer, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { ...config, mediaType: 'application/vnd.oci.image.config.v1+json' },
      layers,
      ...options.extra,
    };
    const { digest } = await this.pushManifest(repo, tag, manifest, OCI_MANIFEST);
    return { digest, manifest, blobs: [manifest.config, ...layers] };
  }
}

