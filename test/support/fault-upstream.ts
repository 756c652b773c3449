/**
 * A registry-shaped HTTP server on loopback whose answers a test writes by hand, for the
 * faults a real registry will not produce on demand: bytes that do not match their digest,
 * a connection cut mid-blob, a redirect to a storage host, a socket that never answers.
 * Every request is recorded with its headers.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  headers: IncomingHttpHeaders;
}

export type FaultHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface FaultServer {
  url: string;
  host: string;
  requests: RecordedRequest[];
  /** Replaces how requests are answered. */
  handle(handler: FaultHandler): void;
  stop(): Promise<void>;
}

export async function startFaultServer(initial: FaultHandler): Promise<FaultServer> {
  let handler = initial;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, headers: req.headers });
    handler(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${host}`,
    host,
    requests,
    handle: (next) => {
      handler = next;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Answers a blob GET/HEAD with `body` (whatever digest was asked for) and `Content-Length`. */
export function serveBytes(res: ServerResponse, body: Buffer, method: string | undefined): void {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) });
  res.end(method === 'HEAD' ? undefined : body);
}

export interface Flood {
  /** Body bytes the socket accepted before the response finished or the connection closed. */
  readonly sent: number;
  /** Whether all `total` bytes were written (the reader did not cut the connection). */
  readonly finished: boolean;
  /** Resolves when the response finished or its connection closed, whichever comes first. */
  readonly done: Promise<void>;
}

/**
 * Answers with a `total`-byte body of one repeated chunk, chunked (no Content-Length, so the
 * reader cannot refuse it up front), written only as fast as the reader takes it: a huge body
 * that costs the test no memory, and tells how much of it was read before the reader hung up.
 */
export function serveFlood(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, total: number): Flood {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const state = { sent: 0, finished: false, closed: false };
  const done = new Promise<void>((resolve) => {
    res.once('close', () => {
      state.closed = true;
      resolve();
    });
    res.once('finish', () => {
      state.finished = true;
      resolve();
    });
  });
  res.writeHead(status, headers);
  const pump = (): void => {
    while (!state.closed && state.sent < total) {
      const piece = chunk.subarray(0, Math.min(chunk.length, total - state.sent));
      state.sent += piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!state.closed) res.end();
  };
  pump();
  return {
    get sent() {
      return state.sent;
    },
    get finished() {
      return state.finished;
    },
    done,
  };
}

/** An upstream answer for one blob (gate()): `sent` bytes at once, the rest when `release()` is called. */
export interface Gated {
  release(): void;
  /** Whether release() was called (read when a response reaches the test). */
  released: boolean;
}

/**
 * From now on `fault` answers every blob GET with the first `sent` bytes of `body` and holds
 * the rest back until `release()` (or, with `cut`, destroys the connection then instead);
 * HEADs get the headers alone.
 */
export function gate(fault: FaultServer, body: Buffer, sent: number, cut = false): Gated {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const gated: Gated = {
    released: false,
    release() {
      gated.released = true;
      open();
    },
  };
  fault.handle((req, res) => {
    if (req.method !== 'GET') return serveBytes(res, body, req.method);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) });
    res.write(body.subarray(0, sent));
    void opened.then(() => (cut ? res.destroy() : res.end(body.subarray(sent))));
  });
  return gated;
}
