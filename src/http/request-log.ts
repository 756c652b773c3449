/**
 * One structured log line per request, written when the response is finished or aborted
 * (method, path, status, bytes in and out, duration, user, upstream), and the same figures
 * for the request metrics. Headers are never logged: they may carry credentials.
 */
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { isProxyName } from '../proxy/proxy-name.js';
import { routeOf } from './route-match.js';

/** A low-cardinality name for the route, for metrics: `manifest`, `proxy_blob`, `token`, ... */
export function routeLabel(req: Request): string {
  const route = routeOf(req);
  if (route) return 'name' in route && isProxyName(route.name) ? `proxy_${route.kind}` : route.kind;
  if (req.path === '/token' || req.path === '/health' || req.path === '/ready' || req.path === '/metrics') return req.path.slice(1);
  if (req.path.startsWith('/api/v1/')) return req.path.split('/')[3] ?? 'api';
  return 'other';
}

export type RequestObserver = (route: string, method: string, status: number, seconds: number, bytesIn: number, bytesOut: number) => void;

/** Starts the log line and figures of one request; they are written when its response closes. */
export type RequestLogStart = (req: Request, res: Response) => void;

export function requestLog(logger: Logger, observe: RequestObserver = () => undefined): RequestLogStart {
  return (req, res) => {
    const started = performance.now();
    // Socket counters include the request and response heads: close enough for traffic figures.
    const socket = req.socket;
    const readBefore = socket.bytesRead;
    const writtenBefore = socket.bytesWritten;
    const done = (): void => {
      const ms = performance.now() - started;
      // A small body is often read from the socket before this middleware runs: trust the
      // declared length where there is one.
      const declared = Number(req.headers['content-length']);
      const bytesIn = Number.isSafeInteger(declared) && declared > 0 ? declared : Math.max(0, socket.bytesRead - readBefore);
      const bytesOut = socket.bytesWritten - writtenBefore;
      observe(routeLabel(req), req.method, res.statusCode, ms / 1000, bytesIn, bytesOut);
      if (res.statusCode < 500 && !logger.isLevelEnabled('info')) return;
      const fields = {
        method: req.method,
        path: req.path,
        status: res.statusCode,
        bytes_in: bytesIn,
        bytes_out: bytesOut,
        duration_ms: Math.round(ms * 10) / 10,
        ...(res.locals.user ? { user: res.locals.user as string } : {}),
        ...(res.locals.upstream ? { upstream: res.locals.upstream as string } : {}),
        ...(res.locals.errorCode ? { error: res.locals.errorCode as string } : {}),
        ...(res.writableFinished ? {} : { aborted: true }),
      };
      if (res.statusCode >= 500) logger.error(fields, 'request');
      else logger.info(fields, 'request');
    };
    // 'close' comes once per response; on() spares the wrapper once() allocates per request.
    res.on('close', done);
  };
}
