/**
 * Reads a pushed manifest: which kind it is, what it references (blobs, child manifests,
 * subject) and what the referrers API reports about it. Refuses anything that is not a
 * well-formed schema 2 / OCI manifest or index with MANIFEST_INVALID.
 */
import { RegistryError } from '../primitives/errors.js';
import {
  baseMediaType,
  DOCKER_SCHEMA1,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
  isNonDistributable,
  MANIFEST_TYPES,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../primitives/media-types.js';
import { parseDigest, type Digest } from '../primitives/types.js';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
}

export interface ParsedManifest {
  mediaType: string;
  /** Config and layers the registry must hold (non-distributable layers excluded). */
  blobs: Descriptor[];
  /** Child manifests of an index. */
  manifests: Descriptor[];
  subject: Descriptor | null;
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

type Json = { [key: string]: unknown };

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, detail);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} is not a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0) throw invalid(`${where}.mediaType is missing`);
  if (typeof digest !== 'string') throw invalid(`${where}.digest is missing`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size is not a non-negative integer`);
  let parsed: Digest;
  try {
    parsed = parseDigest(digest);
  } catch {
    throw invalid(`${where}.digest is not a valid digest`, { digest: digest.slice(0, 200) });
  }
  return { mediaType, digest: parsed, size };
}

function descriptors(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be an array`);
  return value.map((d, i) => descriptor(d, `${where}[${i}]`));
}

function annotationsOf(value: unknown): Record<string, string> | null {
  if (value === undefined || value === null) return null;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid('annotations must map strings to strings');
  }
  return value as Record<string, string>;
}

/** Picks the manifest's media type from the request's Content-Type and the document's own mediaType. */
function resolveMediaType(contentType: string | undefined, body: Json): string {
  const declared = baseMediaType(contentType);
  const own = typeof body.mediaType === 'string' ? body.mediaType : undefined;
  if (declared && DOCKER_SCHEMA1.includes(declared)) throw invalid('Docker image manifest schema 1 is not supported; push schema 2 or OCI');
  if (declared && MANIFEST_TYPES.has(declared)) {
    if (own !== undefined && own !== declared) {
      throw invalid(`Content-Type ${declared} does not match the manifest's mediaType ${own}`);
    }
    return declared;
  }
  if (own !== undefined) {
    if (!MANIFEST_TYPES.has(own)) throw invalid(`unsupported manifest media type ${own}`);
    return own;
  }
  // OCI manifests may leave mediaType out; tell them apart by shape.
  if (Array.isArray(body.manifests)) return OCI_INDEX;
  if (isObject(body.config)) return OCI_MANIFEST;
  throw invalid(`unsupported manifest media type ${declared ?? '(none)'}`);
}

export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (!isObject(body)) throw invalid('manifest is not a JSON object');
  if (body.schemaVersion !== 2) throw invalid('manifest schemaVersion must be 2');
  const mediaType = resolveMediaType(contentType, body);
  const subject = body.subject === undefined ? null : descriptor(body.subject, 'subject');
  const annotations = annotationsOf(body.annotations);
  const ownArtifactType = typeof body.artifactType === 'string' ? body.artifactType : null;

  if (IMAGE_MANIFEST_TYPES.has(mediaType)) {
    const config = descriptor(body.config, 'config');
    const layers = body.layers === undefined && mediaType === OCI_MANIFEST ? [] : descriptors(body.layers, 'layers');
    return {
      mediaType,
      blobs: [config, ...layers.filter((l) => !isNonDistributable(l.mediaType))],
      manifests: [],
      subject,
      artifactType: ownArtifactType ?? config.mediaType,
      annotations,
    };
  }
  if (INDEX_TYPES.has(mediaType)) {
    return { mediaType, blobs: [], manifests: descriptors(body.manifests, 'manifests'), subject, artifactType: ownArtifactType, annotations };
  }
  throw invalid(`unsupported manifest media type ${mediaType}`);
}
