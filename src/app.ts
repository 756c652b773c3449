/** createApp(deps): the Express application, with no I/O of its own at import time. */
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { AuthService } from './auth/auth-service.js';
import { authenticate, type AuthOptions } from './http/authenticate.js';
import { errorHandler, notFound } from './http/error-handler.js';
import { tokenRouter } from './http/routes/token.js';
import { requestLog } from './http/request-log.js';
import { v2Router } from './http/v2-router.js';
import type { Mirror } from './proxy/mirror.js';
import type { PullThrough } from './proxy/pull-through.js';
import type { Registry } from './registry/registry.js';

/** Authentication, when configured: the token service and the options of its challenge. */
export interface AppAuth {
  service: AuthService;
  options: AuthOptions;
}

export interface AppDeps {
  registry: Registry;
  proxy: PullThrough;
  mirror: Mirror;
  logger: Logger;
  auth?: AppAuth;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use((_req, res, next) => {
    res.set('Docker-Distribution-API-Version', 'registry/2.0');
    next();
  });
  app.use(requestLog(deps.logger));
  if (deps.auth) {
    app.use(tokenRouter(deps.auth.service, deps.auth.options.service));
    app.use(authenticate(deps.auth.service, deps.auth.options));
  }
  app.use(v2Router({ registry: deps.registry, proxy: deps.proxy, mirror: deps.mirror }));
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
