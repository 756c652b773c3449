/**
 * The server's request and response objects are born with the Express app's prototypes, so
 * Express's per-request Object.setPrototypeOf changes nothing (src/http/message-classes.ts),
 * and they are still Node's messages in every other way.
 */
import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import express from 'express';
import { messageClasses } from '../../src/http/message-classes.js';

const app = express();
app.post('/echo', (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.status(201).set('X-Path', req.path).type('text/plain').send(Buffer.concat(chunks));
  });
});

/** What each request looked like before Express saw it. */
const seen: Array<{ requestProto: boolean; responseProto: boolean; isMessage: boolean; isResponse: boolean }> = [];
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer(messageClasses(app), (req, res) => {
    seen.push({
      requestProto: Object.getPrototypeOf(req) === app.request,
      responseProto: Object.getPrototypeOf(res) === app.response,
      isMessage: req instanceof IncomingMessage,
      isResponse: res instanceof ServerResponse,
    });
    app(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('messageClasses', () => {
  test("requests and responses start with the app's prototypes and are Node's messages", async () => {
    const res = await fetch(`${url}/echo`, { method: 'POST', body: 'hello' });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-path')).toBe('/echo');
    expect(await res.text()).toBe('hello');
    expect(seen.at(-1)).toEqual({ requestProto: true, responseProto: true, isMessage: true, isResponse: true });
  });

  test('concurrent and kept-alive requests each get a working pair', async () => {
    const bodies = await Promise.all(['a', 'bb', 'ccc'].map(async (b) => (await fetch(`${url}/echo`, { method: 'POST', body: b })).text()));
    expect(bodies).toEqual(['a', 'bb', 'ccc']);
    expect(seen.slice(-3).every((s) => s.requestProto && s.responseProto)).toBe(true);
  });
});
