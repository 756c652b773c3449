/** Manifest media types Keel stores and understands. */
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];

export const IMAGE_MANIFEST_TYPES: ReadonlySet<string> = new Set([DOCKER_MANIFEST, OCI_MANIFEST]);
export const INDEX_TYPES: ReadonlySet<string> = new Set([DOCKER_MANIFEST_LIST, OCI_INDEX]);
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([...IMAGE_MANIFEST_TYPES, ...INDEX_TYPES]);

/** Layers that clients fetch from elsewhere (their `urls`), so a registry need not have them. */
export function isNonDistributable(mediaType: string): boolean {
  return mediaType.includes('.foreign.') || mediaType.includes('nondistributable');
}

/** `type/subtype` without parameters, lower case. */
export function baseMediaType(header: string | undefined): string | undefined {
  const base = header?.split(';', 1)[0]?.trim().toLowerCase();
  return base ? base : undefined;
}
