/**
 * The HTTP server's request listener. A request whose path names a V2 endpoint (route-match.ts)
 * is answered here without Express's router: the API version header and the request log
 * (front-door.ts greet), authentication when it is on, the V2 dispatch, and on failure the
 * same error handler Express would call. Everything else (health, metrics, token, the peer
 * path, /api/v1, unknown paths) goes to the Express app as before.
 *
 * Why: under 32-connection load a manifest GET by tag spent as much CPU in Express's router
 * (app.handle, router.handle and next() through four layers, each matching the path again) as
 * in everything Keel itself does; a one-route Express app answered 33,000 req/s where bare
 * node:http answered 57,000 (message-classes.ts). The handlers still get Express's request and
 * response (the objects are born with the app's prototypes), with what Express's app.handle
 * sets up on them: req.res, res.req, res.locals, req.originalUrl and req.baseUrl.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Express, NextFunction, Request, Response } from 'express';
import type { V2Access } from './authenticate.js';
import { greet } from './front-door.js';
import type { RequestLogStart } from './request-log.js';
import { routeOf, type V2Route } from './route-match.js';
import type { V2Dispatch } from './v2-router.js';

export interface V2Lane {
  startLog: RequestLogStart;
  /** The token check (authenticate.ts); undefined when auth is off. */
  access?: V2Access;
  dispatch: V2Dispatch;
  onError: ErrorRequestHandler;
}

/** The error handler answers every error itself; this only stands in for Express's `next`. */
const noNext: NextFunction = () => undefined;

export function v2Listener(app: Express, lane: V2Lane): RequestListener {
  const { startLog, access, dispatch, onError } = lane;
  const fail = (err: unknown, req: Request, res: Response): void => {
    try {
      onError(err, req, res, noNext);
    } catch {
      // Nothing sensible is left to tell the client.
      res.destroy();
    }
  };
  const authenticated = async (req: Request, res: Response, route: V2Route, check: V2Access): Promise<void> => {
    await check(req, res, route);
    await dispatch(req, res, route);
  };
  return (message: IncomingMessage, response: ServerResponse): void => {
    // A no-op for objects the server built with these prototypes (message-classes.ts).
    Object.setPrototypeOf(message, app.request);
    Object.setPrototypeOf(response, app.response);
    const req = message as Request;
    const res = response as Response;
    const route = routeOf(req);
    if (route === undefined) {
      app(req, res);
      return;
    }
    req.res = res;
    res.req = req;
    res.locals = Object.create(null) as Record<string, unknown>;
    req.originalUrl = req.url;
    req.baseUrl = '';
    greet(req, res, startLog);
    let answered: Promise<void>;
    try {
      // Without auth, straight to the handler: no async step of this listener's own.
      answered = access ? authenticated(req, res, route, access) : dispatch(req, res, route);
    } catch (err) {
      fail(err, req, res);
      return;
    }
    answered.catch((err: unknown) => fail(err, req, res));
  };
}
