/** The registry's services, built from the stores they use. */
import type { ContentStore } from '../storage/content-store.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import type { FileHasher } from '../storage/file-hasher.js';
import type { UploadFiles } from '../storage/upload-files.js';
import { BlobService } from './blob-service.js';
import type { IntegrityReporter } from './blob-integrity.js';
import type { Clock } from '../shared/clock.js';
import { ListingService } from './listing-service.js';
import { ManifestService } from './manifest-service.js';
import { ReferrersService } from './referrers-service.js';
import { RepositoryService } from './repository-service.js';
import { UploadService } from './upload-service.js';

export interface Registry {
  blobs: BlobService;
  uploads: UploadService;
  manifests: ManifestService;
  listings: ListingService;
  referrers: ReferrersService;
  repositories: RepositoryService;
}

export interface RegistryDeps {
  index: RegistryIndex;
  content: ContentStore;
  uploadFiles: UploadFiles;
  hasher: FileHasher;
  clock: Clock;
  limits: { maxManifestSize: number; maxListPage: number; maxBlobSize: number };
  /** Hears blob files found to disagree with the index (logs and metrics). */
  integrity?: IntegrityReporter;
}

export function createRegistry(deps: RegistryDeps): Registry {
  const blobs = new BlobService(deps.index, deps.content, deps.clock, deps.integrity);
  const manifests = new ManifestService(deps.index, deps.content, deps.clock, deps.limits.maxManifestSize);
  return {
    blobs,
    uploads: new UploadService(deps.index, deps.content, deps.uploadFiles, deps.hasher, deps.clock, deps.limits.maxBlobSize),
    manifests,
    listings: new ListingService(deps.index, deps.limits.maxListPage),
    referrers: new ReferrersService(deps.index),
    repositories: new RepositoryService(deps.index, [blobs, manifests]),
  };
}
