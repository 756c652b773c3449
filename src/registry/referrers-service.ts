/** The referrers API: manifests whose `subject` is a given digest, as an OCI image index. */
import type { RegistryIndex } from '../storage/registry-index.js';
import { OCI_INDEX } from '../primitives/media-types.js';
import type { Digest, RepoName } from '../primitives/types.js';

export interface ReferrerDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: typeof OCI_INDEX;
  manifests: ReferrerDescriptor[];
}

export class ReferrersService {
  constructor(private readonly index: RegistryIndex) {}

  async list(repo: RepoName, subject: Digest, artifactType?: string): Promise<ReferrersIndex> {
    // No 404 here, even for a repository without content: OCI 1.1 reserves 404 on this
    // endpoint for registries without the referrers API (clients then fall back to tags).
    const manifests = (await this.index.referrers(repo, subject))
      .filter((m) => artifactType === undefined || m.artifactType === artifactType)
      .map((m): ReferrerDescriptor => ({
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.size,
        ...(m.artifactType ? { artifactType: m.artifactType } : {}),
        ...(m.annotations ? { annotations: JSON.parse(m.annotations) as Record<string, string> } : {}),
      }));
    return { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
  }
}
