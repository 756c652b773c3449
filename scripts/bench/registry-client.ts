/**
 * The few registry requests the benchmark times, spoken the same way to Keel and to
 * Distribution: push a blob monolithically (POST, then PUT with the body: Distribution 2.8 has
 * no single-request POST ?digest=) or in PATCHes with Content-Range, push a manifest, and
 * download a blob while timing its first byte and its last.
 */
import { createHash } from 'node:crypto';
import { Agent, request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobData } from './blob-data.js';
import { curlPut } from './curl-put.js';

/** Longest a request may sit without any byte moving before it is given up. */
const IDLE_TIMEOUT_MS = 120_000;

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Download {
  status: number;
  /** From sending the request to the first byte of the body. */
  firstByteMs: number;
  /** From sending the request to the last byte (equal to firstByteMs when aborted early). */
  totalMs: number;
  bytes: number;
  /**
   * Time between the last two chunks to arrive: long when a server holds the end of a body
   * back (a pull-through cache checking the digest before it lets the last byte go).
   */
  lastChunkGapMs: number;
  /** sha256 digest of what arrived, when asked for. */
  digest?: string;
}

export interface DownloadOptions {
  /** Close the connection as soon as the first body byte arrives. */
  firstByteOnly?: boolean;
  /** Hash the body (costs client CPU: not for timed throughput). */
  hash?: boolean;
}

export class RegistryClient {
  private readonly agent = new Agent({ keepAlive: true });

  constructor(readonly baseUrl: string) {}

  close(): void {
    this.agent.destroy();
  }

  url(pathOrUrl: string | URL): URL {
    return new URL(pathOrUrl, this.baseUrl);
  }

  async send(method: string, target: string | URL, headers: OutgoingHttpHeaders = {}, body?: Readable | Buffer): Promise<Reply> {
    const url = this.url(target);
    const req = request(url, { method, headers, agent: this.agent });
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${url.href}: no progress for ${IDLE_TIMEOUT_MS} ms`)));
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    // Settles with the error instead of rejecting: a server that answers early (an error)
    // may close the socket mid-body, and then its answer is the interesting part.
    const sending: Promise<unknown> =
      body === undefined
        ? Promise.resolve(req.end())
        : Buffer.isBuffer(body)
          ? Promise.resolve(req.end(body))
          : pipeline(body, req).then(
              () => undefined,
              (e: unknown) => e,
            );
    const res = await response;
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const sendError = await sending;
    const reply = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
    if (sendError instanceof Error && reply.status < 400) throw sendError;
    return reply;
  }

  /** Sends a request and insists on one status; the error names the request and the answer. */
  async expect(status: number, method: string, target: string | URL, headers?: OutgoingHttpHeaders, body?: Readable | Buffer): Promise<Reply> {
    const reply = await this.send(method, target, headers, body);
    if (reply.status !== status) {
      throw new Error(`${method} ${this.url(target).href}: expected ${status}, got ${reply.status}: ${reply.body.slice(0, 500)}`);
    }
    return reply;
  }

  private async startUpload(repo: string): Promise<URL> {
    const reply = await this.expect(202, 'POST', `/v2/${repo}/blobs/uploads/`);
    return this.location(reply, 'POST upload');
  }

  private location(reply: Reply, what: string): URL {
    const location = reply.headers.location;
    if (location === undefined) throw new Error(`${what}: no Location header`);
    return this.url(location);
  }

  private async finishUpload(location: URL, digest: string, body?: Readable, size = 0): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const reply = await this.expect(201, 'PUT', url, { 'Content-Type': 'application/octet-stream', 'Content-Length': size }, body);
    const stored = reply.headers['docker-content-digest'];
    if (stored !== undefined && stored !== digest) throw new Error(`PUT ${url.href}: stored as ${String(stored)}, not ${digest}`);
  }

  /** POST, then PUT ?digest= with the whole body. Resolves with the milliseconds taken. */
  async pushMonolithic(repo: string, blob: BlobData): Promise<number> {
    const start = performance.now();
    const location = await this.startUpload(repo);
    await this.finishUpload(location, blob.digest, blob.stream(), blob.size);
    return performance.now() - start;
  }

  /**
   * POST, then PUT ?digest= with the body sent by curl from `file` (the blob's bytes): the
   * timed monolithic push. Resolves with the milliseconds taken.
   */
  async pushFile(repo: string, blob: BlobData, file: string): Promise<number> {
    const start = performance.now();
    const url = await this.startUpload(repo);
    url.searchParams.set('digest', blob.digest);
    const { status } = await curlPut(url.href, file, { 'Content-Type': 'application/octet-stream' });
    if (status !== 201) throw new Error(`PUT ${url.href} (curl -T ${file}): expected 201, got ${status}`);
    return performance.now() - start;
  }

  /**
   * POST, a PATCH with Content-Range per chunk, then PUT ?digest= without a body. Each chunk
   * is built in one buffer before its PATCH is sent and only the requests are timed, so the
   * client's work between requests is not counted against the server.
   */
  async pushChunked(repo: string, blob: BlobData, chunkSize: number): Promise<number> {
    let ms = 0;
    const timed = async <T>(request: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      try {
        return await request();
      } finally {
        ms += performance.now() - start;
      }
    };
    let location = await timed(() => this.startUpload(repo));
    for (let offset = 0; offset < blob.size; offset += chunkSize) {
      const end = Math.min(blob.size, offset + chunkSize);
      const headers = {
        'Content-Type': 'application/octet-stream',
        'Content-Length': end - offset,
        'Content-Range': `${offset}-${end - 1}`,
      };
      const chunk = blob.bytes(offset, end);
      const reply = await timed(() => this.expect(202, 'PATCH', location, headers, chunk));
      location = this.location(reply, 'PATCH upload');
    }
    await timed(() => this.finishUpload(location, blob.digest));
    return ms;
  }

  /** A small blob (a config) from memory. Resolves with its digest. */
  async pushBytes(repo: string, bytes: Buffer): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const location = await this.startUpload(repo);
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    await this.expect(201, 'PUT', url, { 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length }, bytes);
    return digest;
  }

  async putManifest(repo: string, reference: string, mediaType: string, manifest: unknown): Promise<void> {
    const bytes = Buffer.from(JSON.stringify(manifest));
    await this.expect(201, 'PUT', `/v2/${repo}/manifests/${reference}`, { 'Content-Type': mediaType, 'Content-Length': bytes.length }, bytes);
  }

  /** GETs `target` and reads it to the end (or to the first byte), timing both. */
  download(target: string | URL, opts: DownloadOptions = {}): Promise<Download> {
    const url = this.url(target);
    return new Promise<Download>((resolve, reject) => {
      const start = performance.now();
      // Its own connection when it will be cut short, so the pool stays clean.
      const req = request(url, { method: 'GET', agent: opts.firstByteOnly === true ? false : this.agent });
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`GET ${url.href}: no progress for ${IDLE_TIMEOUT_MS} ms`)));
      req.once('error', reject);
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          res.resume();
          res.once('end', () => reject(new Error(`GET ${url.href}: expected 200, got ${status}`)));
          return;
        }
        const hash = opts.hash === true ? createHash('sha256') : undefined;
        let bytes = 0;
        let firstByteMs: number | undefined;
        let lastChunkAt = start;
        let lastChunkGapMs = 0;
        res.on('data', (chunk: Buffer) => {
          const now = performance.now();
          if (firstByteMs === undefined) {
            firstByteMs = now - start;
            if (opts.firstByteOnly === true) {
              req.destroy();
              resolve({ status, firstByteMs, totalMs: firstByteMs, bytes: chunk.length, lastChunkGapMs: 0 });
              return;
            }
          } else {
            lastChunkGapMs = now - lastChunkAt;
          }
          lastChunkAt = now;
          bytes += chunk.length;
          hash?.update(chunk);
        });
        res.once('error', reject);
        res.once('end', () => {
          const totalMs = performance.now() - start;
          const result: Download = { status, firstByteMs: firstByteMs ?? totalMs, totalMs, bytes, lastChunkGapMs };
          if (hash !== undefined) result.digest = `sha256:${hash.digest('hex')}`;
          resolve(result);
        });
      });
      req.end();
    });
  }
}
