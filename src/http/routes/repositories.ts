/**
 * Deleting a repository as a whole, a Keel extension (the OCI spec deletes manifests, tags and
 * blobs one by one; Harbor and Quay offer the same under their own APIs):
 *   DELETE /api/v1/repositories/<name>  → 202 and what went, as JSON
 *                                         {"repository","manifests","tags","links"}
 * Tags, manifests and blob links go in one transaction: the repository leaves the catalog and
 * tags/list answers NAME_UNKNOWN. The bytes stay until the next `scripts/gc` run, which frees
 * what no other repository uses. Needs the `delete` action on the repository when auth is on
 * (api-access.ts); `proxy/` is a read-only cache and is refused as DENIED.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { formatScope } from '../../auth/scope.js';
import { isProxyName } from '../../proxy/proxy-name.js';
import { RegistryError } from '../../primitives/errors.js';
import type { Registry } from '../../registry/registry.js';
import { parseRepoName } from '../../primitives/types.js';
import { authorize, identify, type ApiAuth } from '../api-access.js';

export interface RepositoryRouterDeps {
  registry: Registry;
  /** Present when authentication is on. */
  auth?: ApiAuth;
}

const PREFIX = '/api/v1/repositories/';

export function repositoryRouter(deps: RepositoryRouterDeps): RequestHandler {
  const { registry, auth } = deps;
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (!req.path.startsWith(PREFIX)) {
      next();
      return;
    }
    if (req.method !== 'DELETE') {
      res.set('Allow', 'DELETE');
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on this endpoint`, { method: req.method });
    }
    const repo = parseRepoName(req.path.slice(PREFIX.length).replace(/\/$/, ''));
    if (auth) {
      const caller = await identify(req, res, auth, formatScope(repo, ['delete']));
      authorize(req, res, auth, caller, repo, ['delete']);
    }
    if (isProxyName(repo)) {
      throw new RegistryError('DENIED', 'proxy/ is a read-only pull-through cache: its content goes by the cache retention of scripts/gc', { name: repo });
    }
    res.status(202).json(await registry.repositories.delete(repo));
  };
}
