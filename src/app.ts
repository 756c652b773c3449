/** createApp(deps): the Express application, with no I/O of its own at import time. */
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { errorHandler, notFound } from './http/error-handler.js';
import { requestLog } from './http/request-log.js';
import { v2Router } from './http/v2-router.js';
import type { Mirror } from './proxy/mirror.js';
import type { PullThrough } from './proxy/pull-through.js';
import type { Registry } from './registry/registry.js';

export interface AppDeps {
  registry: Registry;
  proxy: PullThrough;
  mirror: Mirror;
  logger: Logger;
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
  app.use(v2Router({ registry: deps.registry, proxy: deps.proxy, mirror: deps.mirror }));
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
