/**
 * POST /api/v1/import's domain side: one archive, streamed once, into one repository. The
 * archive's format is told by its metadata: index.json (with or without a docker
 * manifest.json beside it) is an OCI layout and keeps every digest; manifest.json alone is
 * a legacy `docker save`. Upload sessions the importer did not use are cancelled, whatever
 * happens.
 */
import type { Readable } from 'node:stream';
import type { RepoName, Tag } from '../primitives/types.js';
import { invalidArchive, readArchive } from './archive-reader.js';
import { importDockerSave } from './docker-save-import.js';
import { ImportSession, type ImportedImage, type ImportRegistry } from './import-session.js';
import { importOciLayout } from './oci-layout-import.js';

export interface ImportLimits {
  /** Largest manifest, config or metadata file read whole (limits.max_manifest_size). */
  maxManifestSize: number;
  /** Most regular files an archive may hold. */
  maxFiles: number;
  /** Bytes of the temporary storage an import leaves free (its unpacked size must fit in the rest). */
  reserve: number;
}

export const DEFAULT_IMPORT_LIMITS: ImportLimits = Object.freeze({ maxManifestSize: 4 << 20, maxFiles: 10_000, reserve: 64 << 20 });

export interface ImportRequest {
  repo: RepoName;
  /** Tags to set; empty: the names the archive gives the image. */
  tags: readonly Tag[];
  archive: Readable;
}

/** The answer: what was imported where. */
export type ImportResult = { repository: RepoName } & ImportedImage;

export async function importArchive(registry: ImportRegistry, request: ImportRequest, limits: ImportLimits = DEFAULT_IMPORT_LIMITS): Promise<ImportResult> {
  const contents = await readArchive(request.archive, request.repo, registry.uploads, {
    maxMetadataSize: limits.maxManifestSize,
    maxFiles: limits.maxFiles,
    reserve: limits.reserve,
  });
  const session = new ImportSession(registry, request.repo, contents, request.tags, limits.maxManifestSize);
  try {
    if (contents.metadata.has('index.json')) return { repository: request.repo, ...(await importOciLayout(session)) };
    if (contents.metadata.has('manifest.json')) return { repository: request.repo, ...(await importDockerSave(session)) };
    throw invalidArchive(
      contents.fileCount === 0 && contents.metadata.size === 0
        ? 'the archive is empty'
        : 'the archive is neither a docker save archive (manifest.json) nor an OCI image layout (index.json)',
    );
  } finally {
    await session.close();
    await contents.discard();
  }
}
