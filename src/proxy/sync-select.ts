/**
 * Which tags a `[[proxy.sync]]` entry warms: those its `tags` regex matches whole, then the
 * last `newest` of them in the tag list's order. That order is lexical (PullThrough.tags sorts
 * the upstream's list, as the distribution spec orders tags/list): "newest" means newest by
 * name, not by push date nor by semver.
 */

/** The pattern anchored at both ends, so "v1\\..*" does not match "xv1.0". */
export function tagPattern(tags: string): RegExp {
  return new RegExp(`^(?:${tags})$`);
}

export function selectTags(tags: readonly string[], pattern: RegExp, newest: number | undefined): string[] {
  const matching = tags.filter((t) => pattern.test(t));
  return newest === undefined ? matching : matching.slice(Math.max(0, matching.length - newest));
}

/** The query of a tag list's next page (`?last=...&n=...`) from its Link header, if any. */
export function nextPageQuery(link: string | undefined): string | undefined {
  if (link === undefined || !/rel="?next"?/.test(link)) return undefined;
  const m = /<[^>?]*(\?[^>]*)>/.exec(link);
  return m?.[1];
}
