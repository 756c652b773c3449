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
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { JSX } from 'preact';
import type { UiSession, UiSessions } from '../../auth/ui-sessions.js';
import { clientOf } from '../sign-in.js';
import { ConfirmDeletePage } from './pages/confirm-delete.js';
import { SignInPage } from './pages/sign-in.js';
import { checkStateChange, clearSessionCookie, csrfSecret, safeNext, sessionOf, setSessionCookie } from './ui-session.js';
import { ViewerContext, type Viewer } from './viewer.js';
import type { Logger } from 'pino';
import { isProxyName } from '../../proxy/proxy-name.js';
import { RegistryError } from '../../primitives/errors.js';
import { isRepoName, parseDigest, parseRepoName, parseTag, type RepoName } from '../../primitives/types.js';
import { ImageDetails, registryImages } from '../../registry/image-details.js';
import { parseProxyName } from '../../proxy/proxy-name.js';
import type { PullThrough } from '../../proxy/pull-through.js';
import { proxyImages } from './proxy-images.js';
import { CachedRepositoryPage } from './pages/cached-repository.js';
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
import { parseUiPath, UiPaths, type UiRoute } from './ui-paths.js';

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
  /** The proxy cache's copies for the image pages (only what is cached is read). */
  proxy: PullThrough;
  /** With auth on, the UI's own sign-in (auth/ui-sessions.ts). */
  sessions?: UiSessions;
}

/** What the viewer of a request may do, and who it is. */
interface Seen {
  mayPull(repo: string): boolean;
  mayDelete(repo: string): boolean;
  user: string | undefined;
  session: UiSession | undefined;
}

/** Forms are small: a CSRF secret, a user name and password, a path to come back to. */
const readForm = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 10 });

function parseForm(req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    readForm(req, res, (err?: unknown) => (err ? reject(new RegistryError('UNSUPPORTED', 'the form could not be read', undefined, 400)) : resolve()));
  });
}

const POSTS = new Set(['sign-in', 'sign-out', 'delete-tag', 'delete-manifest']);

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
  const local = new ImageDetails(registryImages(registry.manifests, registry.blobs, registry.referrers));
  const cached = new ImageDetails(proxyImages(deps.proxy));
  /** The registry's image, or the proxy cache's copy (never fetched for the page). */
  const details = (name: RepoName): ImageDetails => (isProxyName(name) ? cached : local);

  /**
   * Who may see and do what: everything with auth off; else the UI's session, or the
   * request's own credentials (a Bearer token or Basic, as on /api/v1), or anonymous.
   */
  async function viewer(req: Request, res: Response): Promise<Seen> {
    if (!auth) return { mayPull: () => true, mayDelete: () => true, user: undefined, session: undefined };
    const session = await sessionOf(req, deps.sessions);
    if (session) {
      res.locals.user = session.user;
      const principal = auth.service.principalFor(session.user);
      return { mayPull: (repo) => principal.allows(repo, 'pull'), mayDelete: (repo) => principal.allows(repo, 'delete'), user: session.user, session };
    }
    if (!req.headers.authorization) return { mayPull: (repo) => auth.service.mayPull(undefined, repo), mayDelete: () => false, user: undefined, session: undefined };
    const caller = await identify(req, res, auth, undefined);
    res.locals.user = caller.principal.user;
    return { mayPull: (repo) => caller.principal.allows(repo, 'pull'), mayDelete: (repo) => caller.principal.allows(repo, 'delete'), user: caller.principal.user, session: undefined };
  }

  /**
   * The proxy and status pages name no repository, but with auth on they are for signed-in
   * users only, as /api/v1/status and /api/v1/upstreams are: anonymous viewers are asked to
   * sign in (the request's own credentials, until the UI has its sign-in).
   */
  function signedIn(res: Response, seen: Seen): void {
    if (!auth || seen.user !== undefined) return;
    // With the UI's own sign-in, the 401 page offers it; without, the browser asks (Basic).
    if (!deps.sessions) res.set('WWW-Authenticate', `Basic realm="${auth.options.service}"`);
    throw new RegistryError('UNAUTHORIZED', 'Sign in to see this page.', undefined, 401);
  }

  /** A repository the viewer may pull (of the proxy cache too when `proxy`); anything else is the same 404. */
  function visibleRepository(name: string, mayPull: (repo: string) => boolean, options: { proxy?: boolean } = {}): RepoName {
    if (!isRepoName(name) || (isProxyName(name) && options.proxy !== true) || !mayPull(name)) throw NOT_FOUND;
    const repo = parseRepoName(name);
    if (isProxyName(repo)) {
      // A name of no allowed upstream is no page either.
      try {
        deps.proxy.source(parseProxyName(repo));
      } catch {
        throw NOT_FOUND;
      }
    }
    return repo;
  }

  async function serve(req: Request, res: Response): Promise<void> {
    const route = parseUiPath(req.path);
    if (route.page === 'static') {
      setSecurityHeaders(res);
      if (sendAsset(req, res, route.file)) return;
      throw NOT_FOUND;
    }
    if (route.page === 'unknown') throw NOT_FOUND;
    const allowed = route.page === 'sign-out' ? ['POST'] : POSTS.has(route.page) ? ['GET', 'HEAD', 'POST'] : ['GET', 'HEAD'];
    if (!allowed.includes(req.method)) {
      res.set('Allow', allowed.join(', '));
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here`, undefined, 405);
    }
    if (req.method === 'POST') await parseForm(req, res);
    const seen = await viewer(req, res);
    const view: Viewer = {
      authOn: auth !== undefined,
      user: seen.user,
      session: seen.session !== undefined,
      csrf: csrfSecret(req, res, deps.pathPrefix, seen.session),
      here: `${deps.pathPrefix}${req.originalUrl.length <= 2048 ? req.originalUrl : req.path}`,
      // The proxy cache is read-only: nothing of it is deleted from the UI (GC evicts).
      mayDelete: (repo) => !isProxyName(repo) && seen.mayDelete(repo),
    };
    const show = (status: number, page: JSX.Element): void => sendPage(res, status, <ViewerContext.Provider value={view}>{page}</ViewerContext.Provider>);
    try {
      await answer(req, res, route, seen, view, show);
    } catch (err) {
      problem(req, res, err, view);
    }
  }

  async function answer(req: Request, res: Response, route: UiRoute, seen: Seen, view: Viewer, show: (status: number, page: JSX.Element) => void): Promise<void> {
    const mayPull = (repo: string): boolean => seen.mayPull(repo);
    switch (route.page) {
      case 'home': {
        const query = homeQuery(req);
        const visible = (repo: string): boolean => mayPull(repo);
        const request = { q: query.q, sort: query.sort, order: query.order, ...(query.cursor !== undefined ? { cursor: query.cursor } : {}), visible };
        const listing: HomeListing =
          query.store === 'local'
            ? { store: 'local', page: await registry.browse.repositories({ ...request, visible: (repo) => !isProxyName(repo) && mayPull(repo) }) }
            : { store: 'proxy', page: await deps.proxyBrowse.repositories({ ...request, sort: query.sort === 'pushed' ? 'name' : query.sort }) };
        show(200, <HomePage paths={paths} query={query} listing={listing} />);
        return;
      }
      case 'repository': {
        const name = visibleRepository(route.name, mayPull, { proxy: true });
        if (isProxyName(name)) {
          const tags = await deps.proxy.cachedTags(parseProxyName(name));
          if (tags.length === 0) throw NOT_FOUND;
          show(200, <CachedRepositoryPage paths={paths} name={name} tags={tags} />);
          return;
        }
        const cursor = text(req.query.cursor);
        const query: TagsQuery = { sort: text(req.query.sort) === 'name' ? 'name' : 'date', ...(cursor !== undefined && cursor !== '' ? { cursor } : {}) };
        const summary = await registry.browse.repository(name);
        const page = await registry.browse.tags(name, query);
        show(200, <RepositoryPage paths={paths} summary={summary} query={query} page={page} />);
        return;
      }
      case 'tag': {
        const name = visibleRepository(route.name, mayPull, { proxy: true });
        const tag = parseTag(route.tag);
        const found = await details(name).describe(name, { kind: 'tag', tag });
        show(200, <ManifestPage paths={paths} details={found} reference={{ tag }} pull={pullTarget(req)} />);
        return;
      }
      case 'manifest': {
        const name = visibleRepository(route.name, mayPull, { proxy: true });
        const digest = parseDigest(route.digest);
        const found = await details(name).describe(name, { kind: 'digest', digest });
        show(200, <ManifestPage paths={paths} details={found} reference={{ digest }} pull={pullTarget(req)} />);
        return;
      }
      case 'sign-in': {
        if (!auth || !deps.sessions) throw NOT_FOUND;
        const body = (req.body ?? {}) as Record<string, unknown>;
        const next = safeNext(req.method === 'POST' ? body.next : req.query.next, deps.pathPrefix);
        if (req.method !== 'POST') {
          show(200, <SignInPage paths={paths} csrf={view.csrf} next={next} />);
          return;
        }
        checkStateChange(req, undefined);
        const username = typeof body.username === 'string' ? body.username.slice(0, 256) : '';
        const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
        const result = await auth.service.signIn(username, password, clientOf(req));
        if (result.outcome === 'limited') {
          res.set('Retry-After', String(result.retryAfterSeconds));
          show(429, <SignInPage paths={paths} csrf={view.csrf} next={next} username={username} error="Too many failed sign-ins: wait a little and try again." />);
          return;
        }
        if (result.outcome === 'wrong') {
          show(401, <SignInPage paths={paths} csrf={view.csrf} next={next} username={username} error="Wrong user name or password." />);
          return;
        }
        const { cookie, session } = await deps.sessions.issue(result.user);
        setSessionCookie(req, res, deps.pathPrefix, cookie, session);
        logger.info({ user: result.user }, 'UI sign-in');
        res.redirect(303, next);
        return;
      }
      case 'sign-out': {
        checkStateChange(req, seen.session);
        clearSessionCookie(req, res, deps.pathPrefix);
        res.redirect(303, paths.home());
        return;
      }
      case 'delete-tag':
      case 'delete-manifest': {
        const name = visibleRepository(route.name, mayPull);
        if (!seen.mayDelete(name)) {
          if (auth && seen.user === undefined) {
            res.redirect(303, paths.signIn(route.page === 'delete-tag' ? paths.tag(name, route.tag) : paths.manifest(name, route.digest)));
            return;
          }
          throw new RegistryError('DENIED', `${seen.user ?? 'anonymous'} may not delete in ${name}`, undefined, 403);
        }
        const ref = route.page === 'delete-tag' ? ({ kind: 'tag', tag: parseTag(route.tag) } as const) : ({ kind: 'digest', digest: parseDigest(route.digest) } as const);
        if (req.method !== 'POST') {
          // Only what exists is offered for deletion.
          await local.describe(name, ref);
          show(200, <ConfirmDeletePage paths={paths} name={name} what={ref.kind === 'tag' ? { tag: ref.tag } : { digest: ref.digest }} tags={[]} csrf={view.csrf} />);
          return;
        }
        checkStateChange(req, seen.session);
        await registry.manifests.delete(name, ref);
        logger.info({ user: seen.user, repository: name, ...(ref.kind === 'tag' ? { tag: ref.tag } : { digest: ref.digest }) }, 'UI delete');
        res.redirect(303, paths.repository(name));
        return;
      }
      case 'proxy':
        signedIn(res, seen);
        if (!deps.upstreams) show(200, <NotYetPage paths={paths} section="proxy" title="Proxy cache" />);
        else show(200, <ProxyPage paths={paths} upstreams={deps.upstreams.list()} cached={await deps.proxyBrowse.upstreamTotals()} />);
        return;
      case 'status':
        signedIn(res, seen);
        if (!deps.status) show(200, <NotYetPage paths={paths} section="status" title="Status" />);
        else show(200, <StatusPage paths={paths} report={await deps.status.report()} />);
        return;
    }
  }

  function problem(req: Request, res: Response, err: unknown, view?: Viewer): void {
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
    const page = <ProblemPage paths={paths} status={status} title={title} message={message} />;
    sendPage(res, status, view ? <ViewerContext.Provider value={view}>{page}</ViewerContext.Provider> : page);
  }

  return (req: Request, res: Response, next: NextFunction): void => {
    if (!isUiPath(req.path)) {
      next();
      return;
    }
    serve(req, res).catch((err: unknown) => problem(req, res, err));
  };
}
