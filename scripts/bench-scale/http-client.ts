/**
 * A small keep-alive HTTP client for sequential latency samples: one socket, one request at a
 * time, the whole body read before the clock stops. Any status other than the expected one
 * fails the run (a fast 404 would be a false figure).
 */
import { Agent, request } from 'node:http';

export interface Answer {
  status: number;
  body: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

export class ScaleClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(readonly base: string) {}

  send(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, this.base),
        { method, agent: this.agent, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
          res.once('error', reject);
        },
      );
      req.once('error', reject);
      req.end(body);
    });
  }

  /** `send`, failing unless the status is `expected`. */
  async expect(expected: number, method: string, path: string, body?: Buffer, headers?: Record<string, string>): Promise<Answer> {
    const a = await this.send(method, path, body, headers);
    if (a.status !== expected) throw new Error(`${method} ${path}: ${a.status}, expected ${expected}: ${a.body.toString('utf8').slice(0, 300)}`);
    return a;
  }

  close(): void {
    this.agent.destroy();
  }
}
