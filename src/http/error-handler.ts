/**
 * Writes every failure as OCI error JSON. RegistryErrors carry their status; anything else
 * is an internal error, logged with its stack and answered with a generic message.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { RegistryError, RetryLaterError } from '../registry/errors.js';

function isClientGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNABORTED' || (err as Error | undefined)?.message === 'aborted';
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent || isClientGone(err)) {
      if (!(err instanceof RegistryError) && !isClientGone(err)) logger.error({ err, path: req.path }, 'error after response started');
      res.destroy();
      return;
    }
    let error: RegistryError;
    if (err instanceof RegistryError) {
      error = err;
    } else if ((err as { type?: string } | undefined)?.type === 'entity.too.large') {
      error = new RegistryError('SIZE_INVALID', 'request body too large', undefined, 413);
    } else {
      logger.error({ err, method: req.method, path: req.path }, 'internal error');
      error = new RegistryError('UNAVAILABLE', 'internal server error', undefined, 500);
    }
    res.locals.errorCode = error.code;
    if (error instanceof RetryLaterError) res.set('Retry-After', String(error.retryAfter));
    // A request body the handler did not read (refused upload, oversized manifest) is not
    // worth receiving: answer, then close the connection instead of draining it.
    if (!req.complete) res.set('Connection', 'close');
    res.status(error.status).set('Content-Type', 'application/json').end(JSON.stringify({ errors: [error.toJSON()] }));
    if (!req.complete) req.resume();
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new RegistryError('UNSUPPORTED', 'no such endpoint', { path: req.path.slice(0, 200) }, 404));
};
