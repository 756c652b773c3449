/**
 * HTTP to upstream registries: the only code that talks to other registries (and the only
 * importer of got). Follows the auth challenge (Bearer token from the realm, anonymous or
 * with Basic credentials; or Basic directly), caches tokens per scope, retries once on a
 * 401 with a fresh token, and keeps every connection behind the SSRF guard. Credentials
 * go only to the upstream's own host and the hosts named in its auth_hosts; got drops the
 * Authorization header when a redirect (to a CDN) leaves the host, and the upstream's
 * configured `headers` (API keys) are dropped here when a redirect leaves its origin.
 * Token responses are read up to TOKEN_BODY_LIMIT; bodies Keel does not read (refusals,
 * errors) are drained up to DRAIN_LIMIT for connection reuse, then the connection is cut.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import got, { type Got, type NormalizedOptions, type OptionsInit } from 'got';
import type { Logger } from 'pino';
import { checkLiteralHost, publicOnlyLookup } from './address-guard.js';
import { parseChallenge, type Challenge } from './auth-challenge.js';
import { noProxyMetrics, type ProxyMetrics } from './proxy-metrics.js';
import type { TokenCache } from './token-cache.js';
import { readCapped } from '../primitives/read-capped.js';
import { RegistryError } from '../primitives/errors.js';
import { statusFailure, transportFailure, upstreamTooLarge } from './upstream-errors.js';
import type { Upstream } from './upstreams.js';

export interface UpstreamReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

export interface RequestSpec {
  method: 'GET' | 'HEAD';
  /** The token scope asked for on a Bearer challenge: `repository:<repo>:pull`, `registry:catalog:*`. */
  scope: string;
  /** Path and query below the upstream's base URL, e.g. `/v2/library/ubuntu/manifests/24.04`. */
  path: string;
  headers?: Record<string, string>;
  /** Per-phase timeout overriding the upstream's. */
  timeoutMs?: number;
}

interface TokenReply {
  token?: unknown;
  access_token?: unknown;
  expires_in?: unknown;
  issued_at?: unknown;
}

/**
 * A token response is a small JSON object (Docker Hub's are ~2 KiB, large JWTs with many
 * claims a few tens of KiB); 1 MiB is far beyond any real one and small enough that a
 * hostile or broken token server cannot exhaust Keel's memory.
 */
export const TOKEN_BODY_LIMIT = 1024 * 1024;
/** A token goes into an Authorization header: longer than this no server would accept it. */
const MAX_TOKEN_LENGTH = 64 * 1024;
/**
 * Bodies Keel does not read (error answers, refused token requests) are drained up to this
 * much so the connection can be reused; past it the connection is cut, so an endless error
 * body costs nothing more.
 */
export const DRAIN_LIMIT = 64 * 1024;

/** Throws away a reply body Keel does not read, without following an endless one. */
export function discardBody(body: Readable): void {
  let seen = 0;
  body.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DRAIN_LIMIT) body.destroy();
  });
  body.on('error', () => undefined);
  body.resume();
}

/**
 * A token as RFC 6750 and the token spec use it: visible ASCII only (a b64token or a JWT).
 * Anything else (a newline, control characters, spaces) cannot go into a header: caching it
 * would break every request to the upstream until it expired.
 */
function usableToken(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TOKEN_LENGTH && /^[\x21-\x7e]+$/.test(value);
}

export class UpstreamClient {
  private readonly http: Got;
  /** Upstreams that answered with a Basic challenge: credentials are sent up front from then on. */
  private readonly basicUpstreams = new Set<string>();

  constructor(
    private readonly tokens: TokenCache,
    private readonly logger: Logger,
    private readonly metrics: ProxyMetrics = noProxyMetrics,
  ) {
    this.http = got.extend({ throwHttpErrors: false, retry: { limit: 0 }, followRedirect: true, maxRedirects: 5, decompress: false });
  }

  /** Sends a request, authenticating as the upstream asks; resolves when the response headers arrive. */
  async request(upstream: Upstream, spec: RequestSpec): Promise<UpstreamReply> {
    const { scope } = spec;
    let reply = await this.send(upstream, spec, this.authorization(upstream, scope));
    if (reply.status !== 401) return reply;
    const challenge = parseChallenge(reply.headers['www-authenticate'] as string | undefined);
    discardBody(reply.body);
    if (!challenge) return reply;
    this.tokens.drop(upstream.name, scope);
    const authorization = await this.authorize(upstream, challenge, scope);
    if (authorization === undefined) return reply;
    reply = await this.send(upstream, spec, authorization);
    return reply;
  }

  private authorization(upstream: Upstream, scope: string): string | undefined {
    const token = this.tokens.get(upstream.name, scope);
    if (token) return `Bearer ${token}`;
    if (this.basicUpstreams.has(upstream.name) && upstream.credentials) return basic(upstream.credentials.username, upstream.credentials.password);
    return undefined;
  }

  private async authorize(upstream: Upstream, challenge: Challenge, scope: string): Promise<string | undefined> {
    if (challenge.scheme === 'basic') {
      if (!upstream.credentials) return undefined;
      this.basicUpstreams.add(upstream.name);
      return basic(upstream.credentials.username, upstream.credentials.password);
    }
    const realm = challenge.params.realm;
    if (!realm) return undefined;
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', challenge.params.scope ?? scope);
    const headers: Record<string, string> = {};
    if (upstream.credentials) {
      if (this.mayReceiveCredentials(upstream, url)) {
        headers.authorization = basic(upstream.credentials.username, upstream.credentials.password);
      } else {
        this.logger.warn({ upstream: upstream.name, realm: url.host }, 'token realm is on another host: requesting an anonymous token (list it in auth_hosts to send credentials)');
      }
    }
    const response = await this.fetchToken(upstream, url, headers);
    this.metrics.tokenFetched(upstream.name, response !== undefined);
    if (response === undefined) return undefined;
    let body: TokenReply;
    try {
      body = JSON.parse(response.toString('utf8')) as TokenReply;
    } catch {
      return undefined;
    }
    const token = body.token ?? body.access_token;
    if (!usableToken(token)) {
      this.logger.warn({ upstream: upstream.name }, 'token response has no token usable in a header; not cached');
      throw new RegistryError('UNAVAILABLE', `upstream "${upstream.name}" sent a token that cannot be used in a header`, { upstream: upstream.name }, 502);
    }
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : undefined;
    const issuedAt = typeof body.issued_at === 'string' ? body.issued_at : undefined;
    this.tokens.set(upstream.name, scope, token, expiresIn, issuedAt);
    this.logger.debug({ upstream: upstream.name, scope, expires_in: expiresIn }, 'upstream token fetched');
    return `Bearer ${token}`;
  }

  /** The body of a 200 token response, read up to TOKEN_BODY_LIMIT; undefined if the token server refused. */
  private async fetchToken(upstream: Upstream, url: URL, headers: Record<string, string>): Promise<Buffer | undefined> {
    const stream = this.http.stream(url, { ...this.guard(upstream), headers, timeout: { request: upstream.timeoutMs }, followRedirect: false });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        stream.once('response', (res: { statusCode: number }) => resolve(res.statusCode));
        stream.once('error', reject);
      });
      if (status !== 200) {
        discardBody(stream);
        this.logger.warn({ upstream: upstream.name, status }, 'token request refused');
        // A token service that is limiting or failing is the upstream's fault, not a refusal:
        // 429 (with its Retry-After) and 5xx pass on as such, so stale copies can be served.
        if (status === 429 || status >= 500) throw statusFailure(upstream, status, 'UNAVAILABLE', stream.response?.headers ?? {});
        return undefined;
      }
      const tooLarge = upstreamTooLarge(upstream, 'token response');
      if (Number(stream.response?.headers['content-length']) > TOKEN_BODY_LIMIT) throw tooLarge(TOKEN_BODY_LIMIT);
      return await readCapped(stream, TOKEN_BODY_LIMIT, tooLarge);
    } catch (err) {
      stream.destroy();
      throw transportFailure(upstream, err);
    }
  }

  private mayReceiveCredentials(upstream: Upstream, target: URL): boolean {
    return target.host === new URL(upstream.baseUrl).host || upstream.authHosts.includes(target.host) || upstream.authHosts.includes(target.hostname);
  }

  /**
   * Hooks on every request to the upstream: the SSRF guard (public addresses only, unless the
   * upstream allows private ones) and, on a redirect off the upstream's origin (to a storage
   * host or CDN), dropping the configured headers: they are for the upstream alone.
   */
  private guard(upstream: Upstream): Pick<OptionsInit, 'dnsLookup' | 'hooks'> {
    const origin = new URL(upstream.baseUrl).origin;
    const configured = Object.keys(upstream.headers).map((h) => h.toLowerCase());
    const stripOffOrigin = (options: NormalizedOptions): void => {
      if (!options.url || new URL(options.url).origin === origin) return;
      for (const name of configured) delete options.headers[name];
    };
    if (upstream.allowPrivate) return { hooks: { beforeRedirect: [stripOffOrigin] } };
    const check = (options: NormalizedOptions): void => {
      if (options.url) checkLiteralHost(options.url.hostname);
    };
    return {
      dnsLookup: publicOnlyLookup as unknown as OptionsInit['dnsLookup'],
      hooks: { beforeRequest: [check], beforeRedirect: [check, stripOffOrigin] },
    };
  }

  private send(upstream: Upstream, spec: RequestSpec, authorization: string | undefined): Promise<UpstreamReply> {
    const timeout = spec.timeoutMs ?? upstream.timeoutMs;
    const stream = this.http.stream(`${upstream.baseUrl}${spec.path}`, {
      ...this.guard(upstream),
      method: spec.method,
      headers: { ...upstream.headers, ...spec.headers, ...(authorization ? { authorization } : {}) },
      timeout: { lookup: timeout, connect: timeout, secureConnect: timeout, socket: timeout, response: timeout },
    });
    return new Promise<UpstreamReply>((resolve, reject) => {
      stream.once('response', (res: { statusCode: number; headers: IncomingHttpHeaders }) => {
        stream.off('error', reject);
        resolve({ status: res.statusCode, headers: res.headers, body: stream });
      });
      stream.once('error', (err) => reject(transportFailure(upstream, err)));
    });
  }
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
