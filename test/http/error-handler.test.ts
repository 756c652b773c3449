// The error handler tells a client that left from a stream of Keel's own that failed with
// the same error code (an object store dropping a GET fails with ECONNRESET "aborted", as a
// client's reset does): the first is normal and logged at debug, the second is a fault,
// logged as one, and the client still connected sees a broken transfer, or a clean error
// when nothing was sent yet.
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import express from 'express';
import { errorHandler } from '../../src/http/error-handler.js';
import { loggerInto, type LogLine } from '../support/log-lines.js';

const lines: LogLine[] = [];
let server: Server;
let base: string;
/** Resolves once the handler of /client-leaves saw its client go. */
let clientLeft: Promise<void>;
let heardClientLeave: () => void = () => undefined;

/** An error as a socket's peer reset gives it (what a dropped S3 GET body fails with). */
function reset(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

beforeAll(async () => {
  const app = express();
  app.get('/internal-reset', (_req, res, next) => {
    res.status(200).set('Content-Length', '100000');
    res.write(Buffer.alloc(1000, 1), () => next(reset()));
  });
  app.get('/reset-before-headers', (_req, _res, next) => next(reset()));
  app.get('/client-leaves', (_req, res, next) => {
    res.status(200).set('Content-Length', '100000');
    res.write(Buffer.alloc(1000, 1));
    res.once('close', () => {
      next(reset());
      heardClientLeave();
    });
  });
  app.use(errorHandler(loggerInto(lines, 'debug')));
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

interface Reply {
  status: number;
  bytes: number;
  complete: boolean;
  body: string;
}

function get(path: string, leaveAfterFirstBytes = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { agent: false }, (res) => {
      let bytes = 0;
      let body = '';
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        body += c.toString('utf8');
        if (leaveAfterFirstBytes) req.destroy();
      });
      const settle = (): void => resolve({ status: res.statusCode ?? 0, bytes, complete: res.complete, body });
      res.on('close', settle);
      res.on('error', settle);
    });
    req.on('error', (err) => (leaveAfterFirstBytes ? undefined : reject(err)));
    req.end();
  });
}

function linesFor(path: string): LogLine[] {
  return lines.filter((l) => l.path === path);
}

test('a stream of its own reset after the response started: logged as an error, the connection aborted', async () => {
  const reply = await get('/internal-reset');
  expect(reply).toMatchObject({ status: 200, bytes: 1000, complete: false });
  const logged = linesFor('/internal-reset');
  expect(logged).toEqual([expect.objectContaining({ level: 50, msg: 'error after the response started: connection aborted' })]);
});

test('a stream of its own reset before anything was sent: a clean 500 error, logged', async () => {
  const reply = await get('/reset-before-headers');
  expect(reply.status).toBe(500);
  expect(reply.complete).toBe(true);
  expect(JSON.parse(reply.body)).toEqual({ errors: [expect.objectContaining({ code: 'UNAVAILABLE' })] });
  expect(linesFor('/reset-before-headers')).toEqual([expect.objectContaining({ level: 50, msg: 'internal error' })]);
});

test('a client that left mid-response: logged at debug only', async () => {
  clientLeft = new Promise((resolve) => {
    heardClientLeave = resolve;
  });
  const reply = await get('/client-leaves', true);
  expect(reply.complete).toBe(false);
  await clientLeft;
  const logged = linesFor('/client-leaves');
  expect(logged).toEqual([expect.objectContaining({ level: 20, msg: 'client went away during the response', code: 'ECONNRESET' })]);
});
