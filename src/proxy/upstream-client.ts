/**
 * HTTP to upstream registries: the only code that talks to other registries (and the only
 * importer of got). Follows the auth challenge (Bearer token from the realm, anonymous or
 * with Basic credentials; or Basic directly), caches tokens per scope, retries once on a
 * 401 with a fresh token, and keeps every connection behind the SSRF guard. Credentials
 * go only to the upstream's own host and the hosts named in its auth_hosts; got drops the
 * Authorization header when a redirect (to a CDN) leaves the host.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import got, { type Got, type NormalizedOptions, type OptionsInit } from 'got';
import type { Logger } from 'pino';
import { checkLiteralHost, publicOnlyLookup } from './address-guard.js';
import { parseChallenge, type Challenge } from './auth-challenge.js';
import { noProxyMetrics, type ProxyMetrics } from './proxy-metrics.js';
import type { TokenCache } from './token-cache.js';
import { transportFailure } from './upstream-errors.js';
import type { Upstream } from './upstreams.js';

export interface UpstreamReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

export interface RequestSpec {
  method: 'GET' | 'HEAD';
  /** Repository on the upstream (the token scope is pull on it). */
  repo: string;
  /** Path and query below the upstream's base URL, e.g. `/v2/library/ubuntu/manifests/24.04`. */
  path: string;
  headers?: Record<string, string>;
  /** Per-phase timeout overriding the upstream's. */
  timeoutMs?: number;
}

interface TokenReply {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
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
    const scope = `repository:${spec.repo}:pull`;
    let reply = await this.send(upstream, spec, this.authorization(upstream, scope));
    if (reply.status !== 401) return reply;
    const challenge = parseChallenge(reply.headers['www-authenticate'] as string | undefined);
    reply.body.resume();
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
    let response: { statusCode: number; body: string };
    try {
      response = await this.http.get(url, { ...this.guard(upstream), headers, timeout: { request: upstream.timeoutMs }, followRedirect: false, responseType: 'text' });
    } catch (err) {
      throw transportFailure(upstream, err);
    }
    this.metrics.tokenFetched(upstream.name, response.statusCode === 200);
    if (response.statusCode !== 200) {
      this.logger.warn({ upstream: upstream.name, status: response.statusCode }, 'token request refused');
      return undefined;
    }
    let body: TokenReply;
    try {
      body = JSON.parse(response.body) as TokenReply;
    } catch {
      return undefined;
    }
    const token = body.token ?? body.access_token;
    if (!token) return undefined;
    this.tokens.set(upstream.name, scope, token, body.expires_in, body.issued_at);
    this.logger.debug({ upstream: upstream.name, scope, expires_in: body.expires_in }, 'upstream token fetched');
    return `Bearer ${token}`;
  }

  private mayReceiveCredentials(upstream: Upstream, target: URL): boolean {
    return target.host === new URL(upstream.baseUrl).host || upstream.authHosts.includes(target.host) || upstream.authHosts.includes(target.hostname);
  }

  /** SSRF guard: public addresses only, unless the upstream allows private ones. */
  private guard(upstream: Upstream): Pick<OptionsInit, 'dnsLookup' | 'hooks'> {
    if (upstream.allowPrivate) return {};
    const check = (options: NormalizedOptions): void => {
      if (options.url) checkLiteralHost(options.url.hostname);
    };
    return {
      dnsLookup: publicOnlyLookup as unknown as OptionsInit['dnsLookup'],
      hooks: { beforeRequest: [check], beforeRedirect: [check] },
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
