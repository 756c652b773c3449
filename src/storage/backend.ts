/**
 * A storage backend as the rest of Keel sees it: a blob store and the upload sessions that
 * commit into it. One backend per store (the registry's, the proxy cache's); which
 * implementation backs it (filesystem, S3) is chosen from the configuration in one place.
 */
import type { BlobStore } from './blob-store.js';
import type { UploadStore } from './upload-store.js';

export interface StorageBackend {
  /** For logs and metrics: "filesystem", "s3". */
  readonly kind: string;
  readonly blobs: BlobStore;
  readonly uploads: UploadStore;
  /** Resolves when the backend can serve reads and writes (the /ready check); rejects with the reason otherwise. */
  ready(): Promise<void>;
  /** Releases connections and workers. */
  close(): Promise<void>;
}
