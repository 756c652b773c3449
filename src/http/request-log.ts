/** One structured log line per request, written when the response is finished or aborted. */
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const done = (): void => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const fields = {
        method: req.method,
        path: req.path,
        status: res.statusCode,
        bytes_out: Number(res.getHeader('content-length') ?? 0),
        duration_ms: Math.round(ms * 10) / 10,
        ...(res.locals.user ? { user: res.locals.user as string } : {}),
        ...(res.locals.errorCode ? { error: res.locals.errorCode as string } : {}),
        ...(res.writableFinished ? {} : { aborted: true }),
      };
      if (res.statusCode >= 500) logger.error(fields, 'request');
      else logger.info(fields, 'request');
    };
    res.once('close', done);
    next();
  };
}
