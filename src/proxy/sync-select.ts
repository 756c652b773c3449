/**
 * Which repositories (literal names and globs over the upstream's catalog) and which tags a
 * `[[proxy.sync]]` entry warms. Tags: those its `tags` regex matches whole and, with
 * `semver`, that are versions in that range, then the last `newest` of them. Without `semver`
 * the order is the tag list's, lexical (PullThrough.tags sorts the upstream's list, as the
 * distribution spec orders tags/list): "newest" means newest by name, not by push date. With
 * `semver` it is version order, so 1.10 is newer than 1.9.
 */
import semver from 'semver';
import { isRepositoryGlob, repositoryMatcher } from '../primitives/repository-glob.js';

/**
 * The repositories an entry syncs: its literal names in the order given (whether or not the
 * catalog lists them), then the catalog's names that one of its globs matches, in the
 * catalog's order; each once.
 */
export function selectRepositories(patterns: readonly string[], catalog: readonly string[]): string[] {
  const literal = patterns.filter((p) => !isRepositoryGlob(p));
  const matches = repositoryMatcher(patterns.filter(isRepositoryGlob));
  return [...new Set([...literal, ...catalog.filter(matches)])];
}

/**
 * A tag as a version: full semver (`1.2.3`, `v1.2.3`, `1.2.3-rc.1`), or one to three numbers
 * (`3`, `3.19`, as images are often tagged) taken as `3.0.0`, `3.19.0`. Tags with anything
 * else (`3.19-alpine`, `latest`) are not versions.
 */
export function tagVersion(tag: string): string | undefined {
  const full = semver.valid(tag);
  if (full !== null) return full;
  const short = /^v?(\d+)(?:\.(\d+))?$/.exec(tag);
  return short ? `${Number(short[1])}.${Number(short[2] ?? 0)}.0` : undefined;
}

/** The pattern anchored at both ends, so "v1\\..*" does not match "xv1.0". */
export function tagPattern(tags: string): RegExp {
  return new RegExp(`^(?:${tags})$`);
}

export function selectTags(tags: readonly string[], pattern: RegExp, newest: number | undefined, range?: string): string[] {
  let matching = tags.filter((t) => pattern.test(t));
  if (range !== undefined) {
    const versions = new Map<string, string>();
    for (const t of matching) {
      const v = tagVersion(t);
      if (v !== undefined && semver.satisfies(v, range)) versions.set(t, v);
    }
    // Version order; two tags of one version (1.2 and v1.2) keep the list's order.
    matching = [...versions.keys()].sort((a, b) => semver.compare(versions.get(a) as string, versions.get(b) as string));
  }
  return newest === undefined ? matching : matching.slice(Math.max(0, matching.length - newest));
}

/** The query of a tag list's next page (`?last=...&n=...`) from its Link header, if any. */
export function nextPageQuery(link: string | undefined): string | undefined {
  if (link === undefined || !/rel="?next"?/.test(link)) return undefined;
  const m = /<[^>?]*(\?[^>]*)>/.exec(link);
  return m?.[1];
}
