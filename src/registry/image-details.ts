/**
 * What the web UI shows of one manifest: its kind, digest and size; an index's platforms; an
 * image's layers and the fields of its config blob people look for (created, platform,
 * labels, entrypoint, command, environment, history); and the manifests that refer to it
 * (signatures, SBOMs). Read through the registry's services only, and only what the
 * repository holds: nothing here fetches from anywhere.
 *
 * Everything read from a manifest or a config is the pusher's content: it is checked for
 * shape (a field of the wrong type is left out, not trusted) and returned as plain data for
 * the caller to render as text.
 */
import { RegistryError } from '../primitives/errors.js';
import { IMAGE_MANIFEST_TYPES, INDEX_TYPES } from '../primitives/media-types.js';
import { readCapped } from '../primitives/read-capped.js';
import { parseDigest, type Digest, type Reference, type RepoName } from '../primitives/types.js';
import type { BlobService } from './blob-service.js';
import type { ManifestService } from './manifest-service.js';
import type { ReferrerDescriptor, ReferrersService } from './referrers-service.js';

/** A config blob larger than this is not read (a config is a few KiB; history makes it tens). */
export const MAX_CONFIG_SIZE = 4 * 1024 * 1024;

export interface DescriptorView {
  mediaType: string;
  digest: string;
  size: number;
}

export interface PlatformEntry extends DescriptorView {
  /** `os/architecture[/variant]`, or undefined when the index names none (an attestation, say). */
  platform: string | undefined;
  annotations: Record<string, string>;
}

export interface HistoryEntry {
  created?: string;
  createdBy?: string;
  comment?: string;
  emptyLayer: boolean;
}

export interface ImageConfigView {
  created?: string;
  platform?: string;
  author?: string;
  user?: string;
  workingDir?: string;
  entrypoint?: string[];
  cmd?: string[];
  /** `NAME=value` lines, as the config holds them. */
  env: string[];
  labels: Record<string, string>;
  exposedPorts: string[];
  history: HistoryEntry[];
}

interface Common {
  repository: RepoName;
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType: string | undefined;
  annotations: Record<string, string>;
  /** The digest this manifest refers to (a signature's image), if any. */
  subject: string | undefined;
  referrers: ReferrerDescriptor[];
}

export type ManifestDetails =
  | (Common & { kind: 'index'; manifests: PlatformEntry[] })
  | (Common & {
      kind: 'image';
      config: DescriptorView | undefined;
      layers: DescriptorView[];
      /** The layers' sizes added up (what a pull downloads at most, compressed). */
      layersSize: number;
      /** Read from the config blob; undefined with `configProblem` saying why. */
      imageConfig: ImageConfigView | undefined;
      configProblem: string | undefined;
    })
  | (Common & { kind: 'other' });

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined;
}

function stringRecord(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) if (typeof value === 'string') out[k] = value;
  return out;
}

function descriptorView(v: unknown): DescriptorView | undefined {
  if (!isObject(v)) return undefined;
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string' || typeof digest !== 'string' || typeof size !== 'number') return undefined;
  return { mediaType, digest, size };
}

function platformOf(v: unknown): string | undefined {
  if (!isObject(v)) return undefined;
  const os = str(v.os);
  const arch = str(v.architecture);
  if (!os || !arch) return undefined;
  const variant = str(v.variant);
  return [os, arch, ...(variant ? [variant] : [])].join('/');
}

const IMAGE_CONFIG_TYPE = /^application\/vnd\.(oci\.image\.config\.v1|docker\.container\.image\.v1)\+json$/;

function nonImageConfigType(config: unknown): string | undefined {
  const type = descriptorView(config)?.mediaType;
  return type !== undefined && !IMAGE_CONFIG_TYPE.test(type) ? type : undefined;
}

/** The fields of an image config (OCI image-spec config.md; Docker's is the same shape). */
export function readImageConfig(bytes: Buffer): ImageConfigView {
  const raw: unknown = JSON.parse(bytes.toString('utf8'));
  if (!isObject(raw)) throw new Error('the config is not a JSON object');
  const config = isObject(raw.config) ? raw.config : {};
  const history = Array.isArray(raw.history) ? raw.history.filter(isObject) : [];
  const view: ImageConfigView = {
    env: strings(config.Env) ?? [],
    labels: stringRecord(config.Labels),
    exposedPorts: isObject(config.ExposedPorts) ? Object.keys(config.ExposedPorts) : [],
    history: history.map((h) => {
      const entry: HistoryEntry = { emptyLayer: h.empty_layer === true };
      const created = str(h.created);
      const createdBy = str(h.created_by);
      const comment = str(h.comment);
      if (created) entry.created = created;
      if (createdBy) entry.createdBy = createdBy;
      if (comment) entry.comment = comment;
      return entry;
    }),
  };
  const set = <K extends keyof ImageConfigView>(key: K, value: ImageConfigView[K] | undefined): void => {
    if (value !== undefined && value !== '') view[key] = value;
  };
  set('created', str(raw.created));
  set('platform', platformOf(raw));
  set('author', str(raw.author));
  set('user', str(config.User));
  set('workingDir', str(config.WorkingDir));
  set('entrypoint', strings(config.Entrypoint));
  set('cmd', strings(config.Cmd));
  return view;
}

/** Where the details come from: the registry's own images, or the proxy cache's copies (ui/proxy-images.ts). */
export interface ImageSource {
  /** MANIFEST_UNKNOWN when there is no such tag or manifest. */
  manifest(repo: RepoName, ref: Reference): Promise<{ record: { digest: Digest; mediaType: string; size: number }; bytes: Buffer }>;
  /** A config blob's bytes, at most `max`; BLOB_UNKNOWN when it is not there. */
  config(repo: RepoName, digest: Digest, max: number): Promise<Buffer>;
  referrers(repo: RepoName, digest: Digest): Promise<ReferrerDescriptor[]>;
}

/** The local registry's images, through its services. */
export function registryImages(manifests: ManifestService, blobs: BlobService, referrers: ReferrersService): ImageSource {
  return {
    manifest: (repo, ref) => manifests.get(repo, ref),
    config: async (repo, digest, max) => {
      await blobs.stat(repo, digest);
      return readCapped(await blobs.open(digest), max);
    },
    referrers: async (repo, digest) => (await referrers.list(repo, digest)).manifests,
  };
}

export class ImageDetails {
  constructor(private readonly source: ImageSource) {}

  /** MANIFEST_UNKNOWN (a RegistryError) when the repository has no such tag or manifest. */
  async describe(repo: RepoName, ref: Reference): Promise<ManifestDetails> {
    const { record, bytes } = await this.source.manifest(repo, ref);
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    const body = isObject(parsed) ? parsed : {};
    const common: Common = {
      repository: repo,
      digest: record.digest,
      mediaType: record.mediaType,
      size: record.size,
      // An image's config type is what the index records as its artifact type (the referrers
      // API's rule); an image is not an artifact, so only an explicit or non-image one counts.
      artifactType: str(body.artifactType) ?? nonImageConfigType(body.config),
      annotations: stringRecord(body.annotations),
      subject: descriptorView(body.subject)?.digest,
      referrers: await this.source.referrers(repo, record.digest),
    };
    if (INDEX_TYPES.has(record.mediaType)) {
      const children = Array.isArray(body.manifests) ? body.manifests : [];
      const manifests: PlatformEntry[] = [];
      for (const child of children) {
        const d = descriptorView(child);
        if (!d || !isObject(child)) continue;
        manifests.push({ ...d, platform: platformOf(child.platform), annotations: stringRecord(child.annotations) });
      }
      return { ...common, kind: 'index', manifests };
    }
    if (IMAGE_MANIFEST_TYPES.has(record.mediaType)) {
      const config = descriptorView(body.config);
      const layers = (Array.isArray(body.layers) ? body.layers : []).map(descriptorView).filter((d): d is DescriptorView => d !== undefined);
      const { imageConfig, problem } = config ? await this.readConfig(repo, config) : { imageConfig: undefined, problem: 'the manifest names no config' };
      return {
        ...common,
        kind: 'image',
        config,
        layers,
        layersSize: layers.reduce((sum, l) => sum + l.size, 0),
        imageConfig,
        configProblem: problem,
      };
    }
    return { ...common, kind: 'other' };
  }

  /** An artifact's config (a signature's, an SBOM's) is not an image config: only images' are read. */
  private async readConfig(repo: RepoName, config: DescriptorView): Promise<{ imageConfig: ImageConfigView | undefined; problem: string | undefined }> {
    if (!IMAGE_CONFIG_TYPE.test(config.mediaType)) {
      return { imageConfig: undefined, problem: `the config is a ${config.mediaType}, not an image config` };
    }
    if (config.size > MAX_CONFIG_SIZE) return { imageConfig: undefined, problem: `the config is larger than ${MAX_CONFIG_SIZE} bytes: not read` };
    try {
      const digest = parseDigest(config.digest);
      const bytes = await this.source.config(repo, digest, MAX_CONFIG_SIZE);
      return { imageConfig: readImageConfig(bytes), problem: undefined };
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'DIGEST_INVALID') return { imageConfig: undefined, problem: 'the config digest is not valid' };
      if (err instanceof RegistryError && err.code === 'BLOB_UNKNOWN') return { imageConfig: undefined, problem: 'the config blob is not in this repository' };
      if (err instanceof SyntaxError) return { imageConfig: undefined, problem: 'the config blob is not valid JSON' };
      if (err instanceof Error && err.message === 'the config is not a JSON object') return { imageConfig: undefined, problem: err.message };
      throw err;
    }
  }
}
