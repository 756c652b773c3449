/** createApp(deps): the Express application and the server's request listener, with no I/O of their own at import time. */
import type { RequestListener } from 'node:http';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { AuthService } from './auth/auth-service.js';
import type { UiSessions } from './auth/ui-sessions.js';
import { authenticate, type AuthOptions } from './http/authenticate.js';
import { errorHandler, notFound } from './http/error-handler.js';
import { tokenRouter } from './http/routes/token.js';
import { frontDoor, type SideRoute } from './http/front-door.js';
import { requestLog } from './http/request-log.js';
import { healthRouter, type ReadyOptions } from './http/routes/health.js';
import { peerRoutes } from './http/routes/peer.js';
import { metricsRouter } from './http/routes/metrics.js';
import type { KeelMetrics } from './metrics/keel-metrics.js';
import type { StorageBackend } from './storage/backend.js';
import type { DiskFullWatch } from './storage/disk-full-watch.js';
import type { StoreStats } from './storage/store-stats.js';
import { v2Dispatch } from './http/v2-router.js';
import { v2Listener } from './http/v2-listener.js';
import { archiveRouter } from './http/routes/archive.js';
import type { BlobStreamGate } from './http/blob-stream-gate.js';
import { browseRouter } from './http/routes/browse.js';
import { repositoryRouter } from './http/routes/repositories.js';
import { warmRouter } from './http/routes/warm.js';
import { statusRouter, type StatusRouterDeps } from './http/routes/status.js';
import type { UpstreamStatus } from './proxy/upstream-status.js';
import { uiRouter } from './http/ui/ui-router.js';
import type { Mirror } from './proxy/mirror.js';
import type { PeerDownloads } from './proxy/peer-downloads.js';
import type { ProxyBrowseService } from './proxy/proxy-browse.js';
import type { PullThrough } from './proxy/pull-through.js';
import { Warmer } from './proxy/warm.js';
import type { Registry } from './registry/registry.js';

/** Authentication, when configured: the token service and the options of its challenge. */
export interface AppAuth {
  service: AuthService;
  options: AuthOptions;
  /** The web UI's sign-in sessions (none: the UI takes only the request's own credentials). */
  sessions?: UiSessions;
  /** Stops the password check workers (with the server). */
  close(): Promise<void>;
}

/** Operations endpoints: health, readiness, and metrics on this app unless they have their own port. */
export interface AppOps {
  stats: StoreStats;
  /** Storage backends by name; /ready asks each whether it can serve. */
  backends: Readonly<Record<string, StorageBackend>>;
  /** Told of writes that found the disk full; /ready reports it until there is room again. */
  diskFull?: DiskFullWatch;
  /** How /ready names the index and how long each of its checks may take (routes/health.ts). */
  ready?: ReadyOptions;
  metrics?: KeelMetrics;
  /** Serve /metrics on this app (false when metrics.listen names another address). */
  metricsHere: boolean;
  /** With auth on, who may read /metrics here (metrics.users; empty: every signed-in user). */
  metricsUsers: readonly string[];
}

export interface AppDeps {
  registry: Registry;
  ops?: AppOps;
  proxy: PullThrough;
  /** The pull-through cache's repository listing (/api/v1/repositories?store=proxy). */
  proxyBrowse: ProxyBrowseService;
  mirror: Mirror;
  /** The process's Warmer (shared with scheduled syncs); one of its own otherwise. */
  warmer?: Warmer;
  /** GET /api/v1/status and /api/v1/upstreams (routes/status.ts); without them, those are 404. */
  status?: StatusRouterDeps['status'];
  upstreams?: UpstreamStatus;
  logger: Logger;
  auth?: AppAuth;
  /** The downloads other replicas may follow over the peer path (its own signatures, no user auth). */
  peers?: PeerDownloads;
  /** Admission of blob GET bodies (limits.blob_streams). */
  blobStreams: BlobStreamGate;
  /** The web UI at / and /ui/ (`[ui] enabled`); absent: neither is served. */
  ui?: { pathPrefix: string };
}

/** The Express app (whose prototypes the server's messages are born with) and the listener the server calls. */
export interface App {
  express: Express;
  listener: RequestListener;
}

export function createApp(deps: AppDeps): App {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  const metrics = deps.ops?.metrics;
  const sideRoutes: SideRoute[] = [];
  if (deps.ops) {
    sideRoutes.push({ paths: ['/health', '/ready'], router: healthRouter(deps.ops.stats, deps.ops.backends, deps.ops.diskFull, deps.ops.ready) });
    if (metrics && deps.ops.metricsHere) sideRoutes.push({ paths: ['/metrics'], router: metricsRouter(metrics, deps.auth ? { auth: deps.auth, users: deps.ops.metricsUsers } : undefined) });
  }
  if (deps.auth) sideRoutes.push({ paths: ['/token'], router: tokenRouter(deps.auth.service, deps.auth.options.service) });
  const startLog = requestLog(deps.logger, metrics ? (route, method, status, seconds, bytesIn, bytesOut) => metrics.request(route, method, status, seconds, bytesIn, bytesOut) : undefined);
  app.use(frontDoor(startLog, sideRoutes));
  if (deps.peers) app.use(peerRoutes(deps.peers));
  app.use(archiveRouter({ registry: deps.registry, ...(deps.auth ? { auth: deps.auth } : {}) }));
  app.use(browseRouter({ browse: deps.registry.browse, proxyBrowse: deps.proxyBrowse, ...(deps.auth ? { auth: deps.auth } : {}) }));
  app.use(repositoryRouter({ registry: deps.registry, ...(deps.auth ? { auth: deps.auth } : {}) }));
  if (deps.status && deps.upstreams) {
    const { proxyBrowse } = deps;
    app.use(statusRouter({ status: deps.status, upstreams: deps.upstreams, cached: () => proxyBrowse.upstreamTotals(), ...(deps.auth ? { auth: deps.auth } : {}) }));
  }
  app.use(warmRouter({ warmer: deps.warmer ?? new Warmer({ proxy: deps.proxy, logger: deps.logger }), ...(deps.auth ? { auth: deps.auth } : {}) }));
  if (deps.ui) {
    app.use(
      uiRouter({
        registry: deps.registry,
        logger: deps.logger,
        pathPrefix: deps.ui.pathPrefix,
        proxyBrowse: deps.proxyBrowse,
        proxy: deps.proxy,
        ...(deps.auth ? { auth: deps.auth } : {}),
        ...(deps.auth?.sessions ? { sessions: deps.auth.sessions } : {}),
        ...(deps.status ? { status: deps.status } : {}),
        ...(deps.upstreams ? { upstreams: deps.upstreams } : {}),
      }),
    );
  }
  app.use(notFound);
  const diskFull = deps.ops?.diskFull;
  const onError = errorHandler(deps.logger, diskFull ? { storageFull: () => diskFull.sawFull() } : {});
  app.use(onError);
  // /v2 is answered beside Express, not through its router (v2-listener.ts).
  const listener = v2Listener(app, {
    startLog,
    ...(deps.auth ? { access: authenticate(deps.auth.service, deps.auth.options) } : {}),
    dispatch: v2Dispatch({ registry: deps.registry, proxy: deps.proxy, mirror: deps.mirror, blobStreams: deps.blobStreams }),
    onError,
  });
  return { express: app, listener };
}
