/**
 * The web UI: `/` (the repositories) and everything under `/ui/`, mounted by app.ts when
 * `[ui] enabled`. Every answer here, pages, assets and failures, carries the security headers
 * (security-headers.ts), and every failure is an HTML page: the JSON error answers stay with
 * /v2 and /api/v1.
 *
 * Data comes through the registry's services only. This round shows the local registry; a
 * `proxy/...` name is not read (the pull-through service fetches from the upstream on a miss,
 * and the UI must not make Keel fetch): it answers like an unknown repository.
 *
 * With auth on, until the UI has its own sign-in, a page shows what the request's own
 * credentials (a Bearer token or Basic, as on /api/v1) may pull, and without any, what
 * anonymous may pull. A repository the viewer may not pull answers exactly as one that does
 * not exist, so the UI reveals no names.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { isProxyName } from '../../proxy/proxy-name.js';
import { RegistryError } from '../../primitives/errors.js';
import { isRepoName, parseDigest, parseRepoName, parseTag, type RepoName } from '../../primitives/types.js';
import { ImageDetails } from '../../registry/image-details.js';
import type { Registry } from '../../registry/registry.js';
import { identify, type ApiAuth } from '../api-access.js';
import { HomePage, STORE_SORTS, type HomeListing, type HomeQuery, type HomeSort, type HomeStore } from './pages/home.js';
import type { ProxyBrowseService } from '../../proxy/proxy-browse.js';
import { ManifestPage } from './pages/manifest.js';
import { NotYetPage } from './pages/not-yet.js';
import { ProxyPage } from './pages/proxy.js';
import { StatusPage } from './pages/status.js';
import type { UpstreamStatus } from '../../proxy/upstream-status.js';
import type { StatusReport } from '../../server-status.js';
import { ProblemPage } from './pages/problem.js';
import { RepositoryPage, type TagsQuery } from './pages/repository.js';
import type { PullTarget } from './pages/pull-commands.js';
import { sendPage } from './render-page.js';
import { setSecurityHeaders } from './security-headers.js';
import { sendAsset } from './static-assets.js';
import { parseUiPath, UiPaths } from './ui-paths.js';

export interface UiRouterDeps {
  registry: Registry;
  logger: Logger;
  /** `[ui] path_prefix`: "" or "/registry". */
  pathPrefix: string;
  /** Present when authentication is on. */
  auth?: ApiAuth;
  /** The status page's and the proxy page's data; without them those pages say they are not available. */
  status?: { report(): Promise<StatusReport> };
  upstreams?: UpstreamStatus;
  /** The proxy cache's repositories for the home page's second tab. */
  proxyBrowse: ProxyBrowseService;
}

/** Whether Express would hand this path to the UI: `/` and `/ui` with everything below. */
function isUiPath(path: string): boolean {
  return path === '/' || path === '/ui' || path.startsWith('/ui/');
}

const NOT_FOUND = new RegistryError('NAME_UNKNOWN', 'not found', undefined, 404);

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The home page's listing from the query string; anything unknown falls back to the default (a page link, not an API). */
function homeQuery(req: Request): HomeQuery {
  const store: HomeStore = text(req.query.store) === 'proxy' ? 'proxy' : 'local';
  const asked = text(req.query.sort) as HomeSort | undefined;
  const sort: HomeSort = asked !== undefined && STORE_SORTS[store].includes(asked) ? asked : 'name';
  const order = text(req.query.order) === 'asc' || text(req.query.order) === 'desc' ? (text(req.query.order) as 'asc' | 'desc') : sort === 'name' ? 'asc' : 'desc';
  const cursor = text(req.query.cursor);
  return { store, q: (text(req.query.q) ?? '').slice(0, 256), sort, order, ...(cursor !== undefined && cursor !== '' ? { cursor } : {}) };
}

/** The host and scheme the browser used, for the pull commands. */
function pullTarget(req: Request): PullTarget {
  return { host: req.get('host') ?? 'localhost', plainHttp: req.protocol === 'http' };
}

export function uiRouter(deps: UiRouterDeps): RequestHandler {
  const { registry, auth, logger } = deps;
  const paths = new UiPaths(deps.pathPrefix);
  const details = new ImageDetails(registry.manifests, registry.blobs, registry.referrers);

  /** Who may see what: everything with auth off; else the request's credentials, or anonymous. */
  async function viewer(req: Request, res: Response): Promise<(repo: string) => boolean> {
    if (!auth) return () => true;
    if (!req.headers.authorization) return (repo) => auth.service.mayPull(undefined, repo);
    const caller = await identify(req, res, auth, undefined);
    res.locals.user = caller.principal.user;
    return (repo) => caller.principal.allows(repo, 'pull');
  }

  /**
   * The proxy and status pages name no repository, but with auth on they are for signed-in
   * users only, as /api/v1/status and /api/v1/upstreams are: anonymous viewers are asked to
   * sign in (the request's own credentials, until the UI has its sign-in).
   */
  async function signedIn(req: Request, res: Response): Promise<void> {
    if (!auth) return;
    if (res.locals.user !== undefined) return;
    res.set('WWW-Authenticate', `Basic realm="${auth.options.service}"`);
    throw new RegistryError('UNAUTHORIZED', 'Sign in to see this page.', undefined, 401);
  }

  /** A local repository the viewer may pull; anything else is the same 404. */
  function visibleRepository(name: string, mayPull: (repo: string) => boolean): RepoName {
    if (!isRepoName(name) || isProxyName(name) || !mayPull(name)) throw NOT_FOUND;
    return parseRepoName(name);
  }

  async function serve(req: Request, res: Response): Promise<void> {
    const route = parseUiPath(req.path);
    if (route.page === 'static') {
      setSecurityHeaders(res);
      if (sendAsset(req, res, route.file)) return;
      throw NOT_FOUND;
    }
    if (route.page === 'unknown') throw NOT_FOUND;
    const mayPull = await viewer(req, res);
    switch (route.page) {
      case 'home': {
        const query = homeQuery(req);
        const visible = (repo: string): boolean => mayPull(repo);
        const request = { q: query.q, sort: query.sort, order: query.order, ...(query.cursor !== undefined ? { cursor: query.cursor } : {}), visible };
        const listing: HomeListing =
          query.store === 'local'
            ? { store: 'local', page: await registry.browse.repositories({ ...request, visible: (repo) => !isProxyName(repo) && mayPull(repo) }) }
            : { store: 'proxy', page: await deps.proxyBrowse.repositories({ ...request, sort: query.sort === 'pushed' ? 'name' : query.sort }) };
        sendPage(res, 200, <HomePage paths={paths} query={query} listing={listing} />);
        return;
      }
      case 'repository': {
        const name = visibleRepository(route.name, mayPull);
        const cursor = text(req.query.cursor);
        const query: TagsQuery = { sort: text(req.query.sort) === 'name' ? 'name' : 'date', ...(cursor !== undefined && cursor !== '' ? { cursor } : {}) };
        const summary = await registry.browse.repository(name);
        const page = await registry.browse.tags(name, query);
        sendPage(res, 200, <RepositoryPage paths={paths} summary={summary} query={query} page={page} />);
        return;
      }
      case 'tag': {
        const name = visibleRepository(route.name, mayPull);
        const tag = parseTag(route.tag);
        const found = await details.describe(name, { kind: 'tag', tag });
        sendPage(res, 200, <ManifestPage paths={paths} details={found} reference={{ tag }} pull={pullTarget(req)} />);
        return;
      }
      case 'manifest': {
        const name = visibleRepository(route.name, mayPull);
        const digest = parseDigest(route.digest);
        const found = await details.describe(name, { kind: 'digest', digest });
        sendPage(res, 200, <ManifestPage paths={paths} details={found} reference={{ digest }} pull={pullTarget(req)} />);
        return;
      }
      case 'proxy':
        await signedIn(req, res);
        if (!deps.upstreams) sendPage(res, 200, <NotYetPage paths={paths} section="proxy" title="Proxy cache" />);
        else sendPage(res, 200, <ProxyPage paths={paths} upstreams={deps.upstreams.list()} />);
        return;
      case 'status':
        await signedIn(req, res);
        if (!deps.status) sendPage(res, 200, <NotYetPage paths={paths} section="status" title="Status" />);
        else sendPage(res, 200, <StatusPage paths={paths} report={await deps.status.report()} />);
        return;
    }
  }

  function problem(req: Request, res: Response, err: unknown): void {
    if (res.headersSent) {
      logger.error({ err, path: req.path }, 'UI page failed after its answer started');
      res.destroy();
      return;
    }
    let status: number;
    let title: string;
    let message: string;
    if (err instanceof RegistryError && (err.status === 404 || ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'NAME_INVALID', 'MANIFEST_INVALID', 'DIGEST_INVALID', 'BLOB_UNKNOWN'].includes(err.code))) {
      status = 404;
      title = 'Not found';
      message = 'There is no such page, repository, tag or manifest here (or you may not see it).';
    } else if (err instanceof RegistryError && err.status < 500) {
      status = err.status;
      res.set(err.headers);
      title = err.code === 'UNAUTHORIZED' ? 'Sign-in required' : err.code === 'DENIED' ? 'Not allowed' : 'Request refused';
      message = err.message;
    } else {
      logger.error({ err, method: req.method, path: req.path }, 'UI page failed');
      status = 500;
      title = 'Something went wrong';
      message = 'Keel could not show this page; the server log says why.';
    }
    res.locals.errorCode = err instanceof RegistryError ? err.code : 'UNAVAILABLE';
    sendPage(res, status, <ProblemPage paths={paths} status={status} title={title} message={message} />);
  }

  return (req: Request, res: Response, next: NextFunction): void => {
    if (!isUiPath(req.path)) {
      next();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('Allow', 'GET, HEAD');
      problem(req, res, new RegistryError('UNSUPPORTED', `${req.method} is not supported here`, undefined, 405));
      return;
    }
    serve(req, res).catch((err: unknown) => problem(req, res, err));
  };
}
