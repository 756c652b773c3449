/**
 * Repository globs, as `[[proxy.sync]]` repositories take them: picomatch's syntax, the same
 * as `[[auth.access]]` rules. `*` and `?` stay within one path component (`library/*` matches
 * `library/alpine`, not `library/a/b`); `**` crosses `/` (`team/**` matches `team`,
 * `team/a` and `team/a/b`); `[...]`, `{a,b}` and `@(x|y)` as in a shell. A repository name
 * (`library/alpine`) has none of these characters, so it is always a literal name.
 */
import picomatch from 'picomatch';
import { isRepoName } from './types.js';

/** Whether `pattern` is a glob rather than one repository's name (call only on valid patterns). */
export function isRepositoryGlob(pattern: string): boolean {
  return !isRepoName(pattern);
}

/** Characters of glob syntax; what is left of a glob without them is literal name characters. */
const GLOB_SYNTAX = /[*?[\]{}()|,!@+^\\]/g;

/** Why `pattern` is neither a repository name nor a glob that can match one; undefined when it is fine. */
export function repositoryPatternProblem(pattern: string): string | undefined {
  if (isRepoName(pattern)) return undefined;
  if (pattern.startsWith('!')) return `${JSON.stringify(pattern)} is a negated glob: list what to sync, not what to leave out`;
  try {
    // strictBrackets: an unclosed [, { or ( is an error, not a literal character.
    picomatch.makeRe(pattern, { strictBrackets: true });
  } catch (err) {
    return `${JSON.stringify(pattern)} is not a glob (${(err as Error).message})`;
  }
  if (!picomatch.scan(pattern).isGlob) return `expected a repository name on the upstream, such as "library/alpine", or a glob such as "library/*"; got ${JSON.stringify(pattern)}`;
  if (!/^[a-z0-9._/-]*$/.test(pattern.replace(GLOB_SYNTAX, ''))) {
    return `${JSON.stringify(pattern)} can never match a repository name: besides glob syntax, names hold only lower-case letters, digits, ".", "_", "-" and "/"`;
  }
  return undefined;
}

/** Whether a repository name matches any of `globs`. */
export function repositoryMatcher(globs: readonly string[]): (repository: string) => boolean {
  if (globs.length === 0) return () => false;
  return picomatch([...globs], { strictBrackets: true });
}
