/**
 * What the UI's proxy page and GET /api/v1/upstreams show of each upstream and group: its
 * settings (URL, members, tag TTL, whether Keel signs in to it; never the credentials), each
 * member's health in this process (backed off until when, the last failure and the last
 * success), and this process's cache hits and misses for it. Configured upstreams and groups
 * come first, then the allowed public registries (proxy.allow) that are not configured.
 */
import type { Config } from '../config/schema.js';
import type { MemberHealth, MemberState } from './member-health.js';
import type { Sources } from './sources.js';
import type { UpstreamActivity, UpstreamCounts } from './upstream-activity.js';

export interface MemberReport extends MemberState {
  name: string;
  url: string;
  signsIn: boolean;
}

export interface UpstreamReport {
  name: string;
  kind: 'upstream' | 'group';
  /** Configured under [proxy.upstreams] or [proxy.groups]; false: only allowed by proxy.allow. */
  configured: boolean;
  tagTtlMs: number;
  members: MemberReport[];
  /** Names that mean this one (proxy.aliases). */
  aliases: string[];
  counts: UpstreamCounts;
}

export class UpstreamStatus {
  constructor(
    private readonly config: Config['proxy'],
    private readonly sources: Sources,
    private readonly health: MemberHealth,
    private readonly activity: UpstreamActivity,
  ) {}

  list(): UpstreamReport[] {
    const { upstreams, groups, allow } = this.config;
    const names: Array<[string, UpstreamReport['kind'], boolean]> = [
      ...Object.keys(upstreams).sort().map((n): [string, UpstreamReport['kind'], boolean] => [n, 'upstream', true]),
      ...Object.keys(groups).sort().map((n): [string, UpstreamReport['kind'], boolean] => [n, 'group', true]),
      ...allow.filter((n) => !(n in upstreams) && !(n in groups)).map((n): [string, UpstreamReport['kind'], boolean] => [n, 'upstream', false]),
    ];
    return names.map(([name, kind, configured]) => this.report(name, kind, configured));
  }

  /** One upstream or group by its name or an alias; undefined when there is none. */
  get(name: string): UpstreamReport | undefined {
    const source = this.sources.tryResolve(name);
    if (source === undefined) return undefined;
    return this.list().find((r) => r.name === source.name);
  }

  private report(name: string, kind: UpstreamReport['kind'], configured: boolean): UpstreamReport {
    const source = this.sources.resolve(name);
    return {
      name,
      kind,
      configured,
      tagTtlMs: source.tagTtlMs,
      members: source.members.map((m) => ({ name: m.name, url: m.baseUrl, signsIn: m.credentials !== undefined, ...this.health.state(m.name) })),
      aliases: Object.entries(this.config.aliases)
        .filter(([alias, target]) => target === name && alias !== name)
        .map(([alias]) => alias)
        .sort(),
      counts: this.activity.of(name),
    };
  }
}
