/**
 * Requests to a source: each member in order until one has the artifact. A 404, 401/403,
 * 429, 5xx, network error or timeout moves on to the next member; the first success wins.
 * If all fail, the error is the most telling one: not found when every member said not
 * found, otherwise the last failure. Members that fail at the transport or with 5xx are
 * backed off (member-health.ts).
 */
import type { Logger } from 'pino';
import { RegistryError, type ErrorCode } from '../registry/errors.js';
import { performance } from 'node:perf_hooks';
import type { MemberHealth } from './member-health.js';
import { noProxyMetrics, type ProxyMetrics } from './proxy-metrics.js';
import { memberRepository, type Source } from './sources.js';
import { discardBody, type RequestSpec, type UpstreamClient, type UpstreamReply } from './upstream-client.js';
import { statusFailure } from './upstream-errors.js';
import type { Upstream } from './upstreams.js';

export interface SourceReply {
  member: Upstream;
  reply: UpstreamReply;
}

export interface SourceRequest {
  method: 'GET' | 'HEAD';
  /** Repository as the client named it; Docker Hub members get `library/` added where needed. */
  repo: string;
  /** Path below `/v2/<repository>/`, e.g. `manifests/latest`. */
  suffix: string;
  headers?: Record<string, string>;
}

export class SourceRequester {
  constructor(
    private readonly client: UpstreamClient,
    private readonly health: MemberHealth,
    private readonly logger: Logger,
    private readonly metrics: ProxyMetrics = noProxyMetrics,
  ) {}

  /** Resolves with the first member's 200 answer; throws the most telling failure otherwise. */
  async request(source: Source, request: SourceRequest, notFound: ErrorCode): Promise<SourceReply> {
    let lastError: RegistryError | undefined;
    let allNotFound = true;
    for (const member of source.members) {
      if (source.members.length > 1 && this.health.isBackedOff(member.name)) {
        allNotFound = false;
        lastError = new RegistryError('UNAVAILABLE', `upstream "${member.name}" is backed off after failing`, { upstream: member.name });
        continue;
      }
      const repo = memberRepository(member, request.repo);
      const spec: RequestSpec = { method: request.method, repo, path: `/v2/${repo}/${request.suffix}`, ...(request.headers ? { headers: request.headers } : {}) };
      let reply: UpstreamReply;
      const started = performance.now();
      try {
        reply = await this.client.request(member, spec);
        this.metrics.upstreamRequest(member.name, spec.method, reply.status, (performance.now() - started) / 1000);
      } catch (err) {
        this.metrics.upstreamRequest(member.name, spec.method, 0, (performance.now() - started) / 1000);
        const error = err instanceof RegistryError ? err : new RegistryError('UNAVAILABLE', String(err));
        if (error.code === 'UNAVAILABLE') this.health.failed(member.name);
        allNotFound = false;
        lastError = error;
        this.logMiss(source, member, error);
        continue;
      }
      if (reply.status === 200) {
        this.health.succeeded(member.name);
        return { member, reply };
      }
      discardBody(reply.body);
      const error = statusFailure(member, reply.status, notFound, reply.headers);
      if (reply.status >= 500) this.health.failed(member.name);
      if (reply.status !== 404) allNotFound = false;
      lastError = error;
      this.logMiss(source, member, error);
    }
    if (allNotFound || !lastError) {
      throw new RegistryError(notFound, `not found on ${source.members.length > 1 ? `any member of "${source.name}"` : `upstream "${source.name}"`}`, {
        upstream: source.name,
      });
    }
    throw lastError;
  }

  private logMiss(source: Source, member: Upstream, error: RegistryError): void {
    if (source.members.length > 1) this.logger.debug({ group: source.name, member: member.name, error: error.message }, 'group member could not serve; trying the next');
  }
}
