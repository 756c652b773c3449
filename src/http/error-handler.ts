/**
 * Writes every failure as OCI error JSON. RegistryErrors carry their status; a full disk is
 * 507 (see fullStorage); anything else is an internal error, logged with its stack and
 * answered with a generic message.
 *
 * A handler may have set the headers of what it meant to send (a blob's Content-Length,
 * ETag, immutable Cache-Control...) before it failed. An error answer carries only its own
 * headers: a Content-Length of the blob on a short JSON body would leave the client waiting
 * for bytes that never come, and a cache could keep the error for a year. Once the response
 * has started, no error can be told any more: the connection is aborted at once, so the
 * client sees a broken transfer instead of waiting for the rest.
 */
import type { IncomingMessage } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { RegistryError } from '../primitives/errors.js';
import { StorageFullError } from '../storage/storage-errors.js';
import { clearResultHeaders } from './result-headers.js';

/** Errors of a connection that closed, or of a write to one. */
const CONNECTION_GONE = new Set(['ECONNRESET', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'EPIPE', 'ERR_STREAM_DESTROYED']);

/**
 * A client that leaves mid-response is normal (a cancelled pull, a timeout on its side): the
 * request log line says `aborted`, and nothing is logged as an error. The error's code alone
 * does not tell: a stream Keel reads from fails with the same codes when its own peer drops it
 * (an object store closing a GET, another replica going away), and that is a fault to log,
 * with the client's connection still open. Only an error of that kind while the client's
 * connection is closed is the client's doing.
 */
function isClientGone(err: unknown, req: IncomingMessage, res: { destroyed: boolean }): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  const gone = CONNECTION_GONE.has(code) || (err as Error | undefined)?.message === 'aborted';
  return gone && (res.destroyed || (req.socket?.destroyed ?? true));
}

/**
 * A refused request whose whole body is at most this large is read to its end before the
 * answer, as Go's net/http does (256 KiB): the connection stays open, and a client still
 * writing its body (Node 24's fetch sends a form in several writes) reads the answer instead
 * of failing on a closed socket. A larger or unsized body is not worth receiving: answered at
 * once, with the connection closed.
 */
const DRAIN_LIMIT = 256 * 1024;

/** Reads and drops the rest of a small body; resolves once it ended or the client left. */
function drainSmallBody(req: IncomingMessage): Promise<void> | undefined {
  const declared = Number(req.headers['content-length']);
  if (req.complete || !Number.isSafeInteger(declared) || declared > DRAIN_LIMIT) return undefined;
  return new Promise((resolve) => {
    req.once('end', () => resolve());
    req.once('close', () => resolve());
    req.once('error', () => resolve());
    req.resume();
  });
}

/**
 * The answer to a full disk. The OCI spec has no code for it; UNAVAILABLE is one every client
 * knows (Distribution's own "service unavailable"), and 507 Insufficient Storage says what
 * happened without inviting the immediate retries a 503 does.
 */
function fullStorage(): RegistryError {
  return new RegistryError('UNAVAILABLE', 'registry storage is full: free disk space, then retry', { reason: 'disk full' }, 507);
}

export interface ErrorHandlerOptions {
  /** Hears every request that failed because the disk is full (readiness). */
  storageFull?: (err: StorageFullError) => void;
}

export function errorHandler(logger: Logger, options: ErrorHandlerOptions = {}): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (err instanceof StorageFullError) options.storageFull?.(err);
    const clientGone = isClientGone(err, req, res);
    if (res.headersSent || clientGone) {
      if (clientGone) {
        logger.debug({ code: (err as NodeJS.ErrnoException).code, method: req.method, path: req.path }, 'client went away during the response');
      } else {
        const level = err instanceof RegistryError ? 'warn' : 'error';
        logger[level]({ err, method: req.method, path: req.path }, 'error after the response started: connection aborted');
      }
      res.destroy();
      return;
    }
    let error: RegistryError;
    if (err instanceof RegistryError) {
      error = err;
    } else if (err instanceof StorageFullError) {
      logger.error({ err, method: req.method, path: req.path }, 'storage full');
      error = fullStorage();
    } else if ((err as { type?: string } | undefined)?.type === 'entity.too.large') {
      error = new RegistryError('SIZE_INVALID', 'request body too large', undefined, 413);
    } else {
      logger.error({ err, method: req.method, path: req.path }, 'internal error');
      error = new RegistryError('UNAVAILABLE', 'internal server error', undefined, 500);
    }
    res.locals.errorCode = error.code;
    clearResultHeaders(res);
    const answer = (): void => {
      if (res.destroyed) return;
      // A large request body the handler did not read (refused upload, oversized manifest)
      // is not worth receiving: answer, then close the connection instead of draining it.
      if (!req.complete) res.set('Connection', 'close');
      const body = JSON.stringify({ errors: [error.toJSON()] });
      res.status(error.status).set(error.headers).set({ 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) }).end(body);
      if (!req.complete) req.resume();
    };
    const draining = drainSmallBody(req);
    if (draining) void draining.then(answer);
    else answer();
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new RegistryError('UNSUPPORTED', 'no such endpoint', { path: req.path.slice(0, 200) }, 404));
};
