/**
 * Repositories as a whole. Deleting one removes its tags, manifests and blob links at once
 * (the index does it in one transaction); the bytes stay until garbage collection frees what
 * no other repository uses. Pushing to the name again creates the repository anew.
 */
import type { RegistryIndex, RepositoryRemoval } from '../storage/registry-index.js';
import { RegistryError } from '../primitives/errors.js';
import type { RepoName } from '../primitives/types.js';

/** A service that remembers per-repository lookups and must drop them when the repository goes. */
export interface RepositoryMemory {
  forgetRepository(repo: RepoName): void;
}

export interface DeletedRepository extends RepositoryRemoval {
  repository: RepoName;
}

export class RepositoryService {
  constructor(
    private readonly index: RegistryIndex,
    private readonly memories: readonly RepositoryMemory[],
  ) {}

  async delete(repo: RepoName): Promise<DeletedRepository> {
    const removed = await this.index.deleteRepository(repo);
    for (const memory of this.memories) memory.forgetRepository(repo);
    if (!removed) throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name: repo });
    return { repository: repo, ...removed };
  }
}
