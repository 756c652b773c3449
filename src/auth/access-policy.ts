/**
 * Who may do what: `[[auth.access]]` rules match repositories by glob (`team-a/**`,
 * `proxy/**`, `*` for one path component) and name users, `group:<name>` from [auth.groups],
 * `*` (any signed-in user) or `anonymous` (everyone: signing in never gives less than not
 * signing in). A user gets the union of the actions of every rule that matches. Without rules, every signed-in user may pull, push and delete everything and
 * anonymous requests get nothing.
 */
import picomatch from 'picomatch';
import type { Config } from '../config/schema.js';
import type { Action } from './scope.js';

const EVERYTHING: readonly Action[] = ['pull', 'push', 'delete'];

interface CompiledRule {
  matches: (repo: string) => boolean;
  users: ReadonlySet<string>;
  groups: string[];
  actions: Action[];
}

export class AccessPolicy {
  private readonly rules: CompiledRule[];
  private readonly groupsOf = new Map<string, Set<string>>();

  constructor(config: Config['auth']) {
    for (const [group, members] of Object.entries(config.groups)) {
      for (const user of members) this.groupsOf.set(user, new Set([...(this.groupsOf.get(user) ?? []), group]));
    }
    this.rules = config.access.map((rule) => ({
      matches: picomatch(rule.repository, { dot: true }),
      users: new Set(rule.users.filter((u) => !u.startsWith('group:'))),
      groups: rule.users.filter((u) => u.startsWith('group:')).map((u) => u.slice(6)),
      actions: rule.actions,
    }));
  }

  /** How many rules there are (for the log). */
  get size(): number {
    return this.rules.length;
  }

  /** The actions `user` (undefined: anonymous) may take on `repo`. */
  allowed(user: string | undefined, repo: string): Set<Action> {
    if (this.rules.length === 0) return new Set(user === undefined ? [] : EVERYTHING);
    const groups = user === undefined ? undefined : this.groupsOf.get(user);
    const granted = new Set<Action>();
    for (const rule of this.rules) {
      if (!rule.matches(repo)) continue;
      const applies =
        rule.users.has('anonymous') ||
        (user !== undefined && (rule.users.has(user) || rule.users.has('*') || rule.groups.some((g) => groups?.has(g))));
      if (applies) for (const a of rule.actions) granted.add(a);
    }
    return granted;
  }
}
