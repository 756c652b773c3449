/** The registry's services, built from the stores they use. */
import type { StorageBackend } from '../storage/backend.js';
import type { BrowseIndex } from '../storage/browse-index.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import { BrowseService } from './browse-service.js';
import { BlobService } from './blob-service.js';
import type { IntegrityReporter } from './blob-integrity.js';
import type { Clock } from '../primitives/clock.js';
import { ListingService } from './listing-service.js';
import { ManifestService } from './manifest-service.js';
import { PullRecorder } from './pull-recorder.js';
import { ReferrersService } from './referrers-service.js';
import { RepositoryService } from './repository-service.js';
import type { ClaimSettings } from './upload-claim.js';
import { UploadService } from './upload-service.js';

export interface Registry {
  blobs: BlobService;
  uploads: UploadService;
  manifests: ManifestService;
  listings: ListingService;
  referrers: ReferrersService;
  repositories: RepositoryService;
  /** Repository and tag listings with figures (web UI, /api/v1/repositories). */
  browse: BrowseService;
  /** Last pull times, coalesced: its settled() waits for the writes started so far. */
  pulls: PullRecorder;
}

export interface RegistryDeps {
  index: RegistryIndex;
  /** The listings' figures, and where last pull times go. */
  browse: BrowseIndex;
  /** Hears a last-pull write that failed (the pull itself was answered). */
  onPullRecordError?: (err: unknown) => void;
  /** Where blobs and upload sessions are kept (whichever driver). */
  storage: StorageBackend;
  clock: Clock;
  limits: { maxManifestSize: number; maxListPage: number; maxBlobSize: number };
  /** Hears blob files found to disagree with the index (logs and metrics). */
  integrity?: IntegrityReporter;
  /** How upload sessions are held by the request writing them (upload-claim.ts). */
  uploadClaim?: ClaimSettings;
  /**
   * How long tag → manifest and blob-size lookups are remembered (repo-cache.ts): 0 turns
   * those caches off, as a shared index needs (a tag pushed on another replica must be seen at once).
   */
  mutableCacheMs?: number;
}

export function createRegistry(deps: RegistryDeps): Registry {
  const content = deps.storage.blobs;
  const blobs = new BlobService(deps.index, content, deps.clock, deps.integrity, deps.mutableCacheMs);
  const pulls = new PullRecorder(deps.browse, deps.clock, deps.onPullRecordError);
  const manifests = new ManifestService(deps.index, content, deps.clock, deps.limits.maxManifestSize, deps.mutableCacheMs, (repo) => pulls.noted(repo));
  return {
    blobs,
    uploads: new UploadService(deps.index, content, deps.storage.uploads, deps.clock, deps.limits.maxBlobSize, deps.uploadClaim),
    manifests,
    listings: new ListingService(deps.index, deps.limits.maxListPage),
    referrers: new ReferrersService(deps.index),
    repositories: new RepositoryService(deps.index, [blobs, manifests]),
    browse: new BrowseService(deps.browse, deps.limits.maxListPage),
    pulls,
  };
}
