/**
 * A registry-shaped HTTP server on loopback whose answers a test writes by hand, for the
 * faults a real registry will not produce on demand: bytes that do not match their digest,
 * a connection cut mid-blob, a redirect to a storage host, a socket that never answers.
 * Every request is recorded with its Authorization header.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
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
    requests.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
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
