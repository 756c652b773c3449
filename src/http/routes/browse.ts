/**
 * The repository listings of the web UI, as JSON for scripts (README "JSON API"):
 *   GET /api/v1/repositories?store=local|proxy&q=&sort=&order=asc|desc&n=&cursor=
 *       local: sort name|pushed|pulled|size; proxy: sort name|pulled|size (pulled: last read)
 *       → {"store","repositories":[...],"next":<cursor>|null} (+ Link rel="next")
 *   GET /api/v1/tags/<name>?sort=date|name&order=&n=&cursor=
 *       → {"name","tags":[...],"next":<cursor>|null} (+ Link rel="next")
 * Tags live under /api/v1/tags/ because a name has slashes and /api/v1/repositories/<name>
 * is the repository's DELETE (repositories.ts): the whole rest of the path is the name.
 * Times are ISO 8601 (UTC) or null for never. Every bad parameter is a 400 with an OCI error
 * body. With auth on a signed-in user is needed (a Bearer token from /token or Basic
 * credentials, api-access.ts), and, as for /v2/_catalog, the access rules decide what that
 * user sees: only repositories they may pull are listed, a repository's tags need pull on it.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RegistryError } from '../../primitives/errors.js';
import { isProxyName } from '../../proxy/proxy-name.js';
import { PROXY_REPOSITORY_SORTS, type CachedRepository, type ProxyBrowseService, type ProxyRepositorySort } from '../../proxy/proxy-browse.js';
import {
  REPOSITORY_SORTS,
  TAG_SORTS,
  type BrowsePage,
  type BrowseService,
  type RepositorySort,
  type RepositorySummary,
  type SortOrder,
  type TagSort,
  type TagSummary,
} from '../../registry/browse-service.js';
import { parseRepoName, type RepoName } from '../../primitives/types.js';
import { identify, type ApiAuth } from '../api-access.js';
import { queryString } from '../request.js';

export interface BrowseRouterDeps {
  browse: BrowseService;
  proxyBrowse: ProxyBrowseService;
  /** Present when authentication is on. */
  auth?: ApiAuth;
}

const LIST_PATH = /^\/api\/v1\/repositories\/?$/;
const TAGS_PREFIX = '/api/v1/tags/';
const MAX_QUERY = 256;

function badParameter(parameter: string, message: string, value?: string): RegistryError {
  return new RegistryError('UNSUPPORTED', message, { parameter, ...(value !== undefined ? { value: value.slice(0, 100) } : {}) }, 400);
}

function oneOf<T extends string>(req: Request, parameter: string, allowed: readonly T[]): T | undefined {
  const value = queryString(req, parameter);
  if (value === undefined || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw badParameter(parameter, `${parameter} must be one of ${allowed.join(', ')}`, value);
  return value as T;
}

function pageParams(req: Request): { n?: number; cursor?: string } {
  const n = queryString(req, 'n');
  if (n !== undefined && !/^\d{1,9}$/.test(n)) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a positive integer', { n: n.slice(0, 20) });
  const cursor = queryString(req, 'cursor');
  return { ...(n !== undefined ? { n: Number(n) } : {}), ...(cursor !== undefined && cursor !== '' ? { cursor } : {}) };
}

const iso = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);

function localJson(r: RepositorySummary): Record<string, unknown> {
  return { name: r.name, tags: r.tags, manifests: r.manifests, bytes: r.bytes, pushed_at: iso(r.pushedAt), pulled_at: iso(r.pulledAt) };
}

function proxyJson(r: CachedRepository): Record<string, unknown> {
  return { name: r.name, upstream: r.upstream, repository: r.repository, tags: r.tags, manifests: r.manifests, bytes: r.bytes, pulled_at: iso(r.lastReadAt) };
}

function tagJson(t: TagSummary): Record<string, unknown> {
  return { tag: t.tag, digest: t.digest, media_type: t.mediaType, pushed_at: iso(t.pushedAt), manifest_bytes: t.manifestBytes, image_bytes: t.imageBytes };
}

/** The same request with the next page's cursor, as a Link header. */
function linkNext(req: Request, res: Response, page: BrowsePage<unknown>): void {
  if (page.next === undefined) return;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(req.query as Record<string, unknown>)) {
    if (key !== 'cursor' && typeof value === 'string') params.set(key, value);
  }
  params.set('cursor', page.next);
  res.set('Link', `<${req.path}?${params.toString()}>; rel="next"`);
}

export function browseRouter(deps: BrowseRouterDeps): RequestHandler {
  const { auth } = deps;

  /** With auth on: who may see what (the access rules for the signed-in user); undefined with auth off. */
  const viewer = async (req: Request, res: Response): Promise<((name: string) => boolean) | undefined> => {
    if (!auth) return undefined;
    const caller = await identify(req, res, auth, undefined);
    const user = caller.principal.user;
    if (user === undefined) throw new RegistryError('UNAUTHORIZED', 'listing repositories needs a signed-in user');
    res.locals.user = user;
    return (name) => auth.service.mayPull(user, name);
  };

  const listRepositories = async (req: Request, res: Response): Promise<void> => {
    const store = oneOf(req, 'store', ['local', 'proxy'] as const) ?? 'local';
    const q = queryString(req, 'q') ?? '';
    if (q.length > MAX_QUERY) throw badParameter('q', `q is longer than ${MAX_QUERY} characters`);
    const order = oneOf<SortOrder>(req, 'order', ['asc', 'desc']);
    const sorts: readonly string[] = store === 'local' ? REPOSITORY_SORTS : PROXY_REPOSITORY_SORTS;
    const sort = oneOf(req, 'sort', sorts);
    const page = pageParams(req);
    const visible = await viewer(req, res);
    const common = { ...(q !== '' ? { q } : {}), ...(order ? { order } : {}), ...page, ...(visible ? { visible } : {}) };
    if (store === 'local') {
      const result = await deps.browse.repositories({ ...common, ...(sort ? { sort: sort as RepositorySort } : {}) });
      linkNext(req, res, result);
      res.status(200).json({ store, repositories: result.items.map(localJson), next: result.next ?? null });
    } else {
      const result = await deps.proxyBrowse.repositories({ ...common, ...(sort ? { sort: sort as ProxyRepositorySort } : {}) });
      linkNext(req, res, result);
      res.status(200).json({ store, repositories: result.items.map(proxyJson), next: result.next ?? null });
    }
  };

  const listTags = async (req: Request, res: Response): Promise<void> => {
    const repo: RepoName = parseRepoName(req.path.slice(TAGS_PREFIX.length).replace(/\/$/, ''));
    const sort = oneOf<TagSort>(req, 'sort', TAG_SORTS);
    const order = oneOf<SortOrder>(req, 'order', ['asc', 'desc']);
    const page = pageParams(req);
    const visible = await viewer(req, res);
    if (visible && !visible(repo)) {
      throw new RegistryError('DENIED', `requested access to the resource is denied: ${String(res.locals.user)} may not pull ${repo}`, { name: repo, actions: ['pull'] });
    }
    if (isProxyName(repo)) {
      throw new RegistryError('NAME_UNKNOWN', 'tags of the pull-through cache are not listed here yet: GET /v2/<name>/tags/list asks the upstream', { name: repo });
    }
    const result = await deps.browse.tags(repo, { ...(sort ? { sort } : {}), ...(order ? { order } : {}), ...page });
    linkNext(req, res, result);
    res.status(200).json({ name: repo, tags: result.items.map(tagJson), next: result.next ?? null });
  };

  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const list = LIST_PATH.test(req.path);
    if (!list && !req.path.startsWith(TAGS_PREFIX)) {
      next();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('Allow', 'GET, HEAD');
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on this endpoint`, { method: req.method });
    }
    await (list ? listRepositories(req, res) : listTags(req, res));
  };
}
