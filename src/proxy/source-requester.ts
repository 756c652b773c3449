/**
 * Requests to a source: each member in order until one has the artifact. A 404, 401/403,
 * 429, 5xx, network error or timeout moves on to the next member; the first success wins.
 * If all fail, the error is the most telling one: not found when every member said not
 * found, otherwise the last failure. Members that fail at the transport or with 5xx are
 * backed off (member-health.ts). The repository list (`_catalog`, for [[proxy.sync]] globs)
 * goes the same way, with a token scoped to the catalog instead of a repository.
 */
import type { Logger } from 'pino';
import { RegistryError, type ErrorCode } from '../primitives/errors.js';
import { performance } from 'node:perf_hooks';
import type { MemberHealth } from './member-health.js';
import { noProxyMetrics, type ProxyMetrics } from './proxy-metrics.js';
import { memberRepository, type Source } from './sources.js';
import { discardBody, type RequestSpec, type UpstreamClient, type UpstreamReply } from './upstream-client.js';
import { isUnavailable, statusFailure } from './upstream-errors.js';
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
  request(source: Source, request: SourceRequest, notFound: ErrorCode): Promise<SourceReply> {
    return this.requestEach(source, notFound, (member) => {
      const repo = memberRepository(source, member, request.repo);
      return { method: request.method, scope: `repository:${repo}:pull`, path: `/v2/${repo}/${request.suffix}`, ...(request.headers ? { headers: request.headers } : {}) };
    });
  }

  /** A page of the repository list (`/v2/_catalog<query>`), with a token scoped `registry:catalog:*`. */
  catalog(source: Source, query: string): Promise<SourceReply> {
    return this.requestEach(source, 'NAME_UNKNOWN', () => ({ method: 'GET', scope: 'registry:catalog:*', path: `/v2/_catalog${query}` }));
  }

  private async requestEach(source: Source, notFound: ErrorCode, specFor: (member: Upstream) => RequestSpec): Promise<SourceReply> {
    const failures: MemberFailure[] = [];
    for (const member of source.members) {
      if (source.members.length > 1 && this.health.isBackedOff(member.name)) {
        failures.push({ member, error: new RegistryError('UNAVAILABLE', `upstream "${member.name}" is backed off after failing`, { upstream: member.name }) });
        continue;
      }
      const spec = specFor(member);
      let reply: UpstreamReply;
      const started = performance.now();
      try {
        reply = await this.client.request(member, spec);
        this.metrics.upstreamRequest(member.name, spec.method, reply.status, (performance.now() - started) / 1000);
      } catch (err) {
        this.metrics.upstreamRequest(member.name, spec.method, 0, (performance.now() - started) / 1000);
        const error = err instanceof RegistryError ? err : new RegistryError('UNAVAILABLE', String(err));
        if (error.code === 'UNAVAILABLE') this.health.failed(member.name, error.message);
        failures.push({ member, error });
        this.logMiss(source, member, error);
        continue;
      }
      if (reply.status === 200) {
        this.health.succeeded(member.name);
        return { member, reply };
      }
      discardBody(reply.body);
      const error = statusFailure(member, reply.status, notFound, reply.headers);
      if (reply.status >= 500) this.health.failed(member.name, error.message);
      else if (reply.status === 401 || reply.status === 403 || reply.status === 429) this.health.refused(member.name, error.message);
      failures.push({ member, error, status: reply.status });
      this.logMiss(source, member, error, reply.status);
    }
    throw mostTelling(source, failures, notFound);
  }

  private logMiss(source: Source, member: Upstream, error: RegistryError, status?: number): void {
    if (status === 401 || status === 403) {
      // Keel's own credentials for that upstream are wrong or lack rights: the operator must act.
      this.logger.warn({ upstream: source.name, member: member.name, status }, `member "${member.name}": HTTP ${status}, check its credentials`);
    } else if (source.members.length > 1) {
      this.logger.debug({ group: source.name, member: member.name, error: error.message }, 'group member could not serve; trying the next');
    }
  }
}

interface MemberFailure {
  member: Upstream;
  error: RegistryError;
  /** The member's HTTP status, when it answered. */
  status?: number;
}

/**
 * The error for a request no member could serve. Not found when every member said so. Otherwise
 * an unavailable member's error wins (a stale cached copy may then be served), then a member
 * refusing Keel's credentials (the artifact may be there), then the last failure. A group's
 * message names every member's answer, so a refusal is not hidden behind another member's 404.
 */
function mostTelling(source: Source, failures: MemberFailure[], notFound: ErrorCode): RegistryError {
  const grouped = source.members.length > 1;
  const refused = (f: MemberFailure): boolean => f.status === 401 || f.status === 403;
  const pick =
    failures.findLast((f) => isUnavailable(f.error)) ?? failures.find(refused) ?? (failures.every((f) => f.status === 404) ? undefined : failures.at(-1));
  if (!grouped) return pick?.error ?? new RegistryError(notFound, `not found on upstream "${source.name}"`, { upstream: source.name });
  const answers = failures.map((f) => `member "${f.member.name}": ${memberAnswer(f)}`).join('; ');
  if (!pick) return new RegistryError(notFound, `not found on any member of "${source.name}" (${answers})`, { upstream: source.name });
  return new RegistryError(pick.error.code, `no member of "${source.name}" could serve it (${answers})`, { upstream: source.name, member: pick.member.name }, pick.error.status, pick.error.headers);
}

function memberAnswer(f: MemberFailure): string {
  if (f.status === 401 || f.status === 403) return `HTTP ${f.status}, check its credentials`;
  if (f.status === 404) return 'not found';
  return f.error.message.replace(`upstream "${f.member.name}" `, '');
}
