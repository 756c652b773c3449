/**
 * `GET /metrics` in the Prometheus text format. With auth on, /metrics on the main port
 * names upstreams, repositories' traffic and process details, so it needs a signed-in user:
 * Basic credentials (what Prometheus' `basic_auth` sends) or a Bearer token from /token, of a
 * user in metrics.users when that list is set. A separate metrics.listen address has no
 * authentication of its own: bind it where only the scraper reaches.
 */
import express, { type Router } from 'express';
import type { KeelMetrics } from '../../metrics/keel-metrics.js';
import { RegistryError } from '../../primitives/errors.js';
import { identify, type ApiAuth } from '../api-access.js';

export interface MetricsAccess {
  auth: ApiAuth;
  /** Users who may scrape; empty: every signed-in user. */
  users: readonly string[];
}

export function metricsRouter(metrics: KeelMetrics, access?: MetricsAccess): Router {
  const router = express.Router();
  router.get('/metrics', async (req, res) => {
    if (access) {
      const { principal } = await identify(req, res, access.auth, undefined);
      if (principal.user === undefined) {
        res.set('WWW-Authenticate', `Basic realm="${access.auth.options.service}"`);
        throw new RegistryError('UNAUTHORIZED', 'metrics need a signed-in user');
      }
      if (access.users.length > 0 && !access.users.includes(principal.user)) {
        throw new RegistryError('DENIED', `requested access to the resource is denied: ${principal.user} may not read metrics`);
      }
      res.locals.user = principal.user;
    }
    res.status(200).set('Content-Type', metrics.registry.contentType).end(await metrics.registry.metrics());
  });
  return router;
}
