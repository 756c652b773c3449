/**
 * The ceiling for small requests: a bare `node:http` server that answers a fixed set of
 * requests with fixed bytes and headers, and nothing else (no routing beyond one map lookup,
 * no auth, no logging, no index). The bench runs it as its own process on the same Node as
 * Keel, giving it Keel's own answers (small-requests.ts captures them), so it sends the same
 * status, headers and body bytes: what remains between the two is Keel's per-request cost.
 *
 *   node bare-http.js <spec.json>
 *
 * spec.json: { "host": "127.0.0.1", "port": 1234, "answers": [{ "method", "path", "status",
 * "headers": {name: value}, "body": base64 }] }. Anything else answers 404. Import only its
 * types (`import type`): importing the module starts the server.
 */
import { readFileSync } from 'node:fs';
import { createServer, type OutgoingHttpHeaders } from 'node:http';

export interface BareAnswer {
  method: string;
  path: string;
  status: number;
  headers: Record<string, string>;
  /** Base64; empty for a HEAD. */
  body: string;
}

export interface BareSpec {
  host: string;
  port: number;
  answers: BareAnswer[];
}

interface Prepared {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

function main(): void {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: bare-http.js <spec.json>');
  const spec = JSON.parse(readFileSync(file, 'utf8')) as BareSpec;
  const answers = new Map<string, Prepared>();
  for (const a of spec.answers) answers.set(`${a.method} ${a.path}`, { status: a.status, headers: a.headers, body: Buffer.from(a.body, 'base64') });
  const server = createServer((req, res) => {
    const answer = answers.get(`${req.method ?? ''} ${req.url ?? ''}`);
    if (answer === undefined) {
      res.writeHead(404, { 'Content-Length': '0' });
      res.end();
      return;
    }
    res.writeHead(answer.status, answer.headers);
    res.end(req.method === 'HEAD' ? undefined : answer.body);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(spec.port, spec.host, () => process.stdout.write(`bare-http listening on ${spec.host}:${spec.port}\n`));
  process.once('SIGTERM', () => process.exit(0));
}

main();
