/**
 * The UI's URL layout, written and read in one place. Every link the UI writes starts with
 * `[ui] path_prefix` (the sub-path a reverse proxy serves Keel under); the requests Keel
 * itself receives do not carry it (the proxy strips it).
 *
 *   /                                             repositories (home)
 *   /ui/repositories/<name>                       a repository's tags
 *   /ui/repositories/<name>/-/tags/<tag>          a tag
 *   /ui/repositories/<name>/-/manifests/<digest>  a manifest by digest
 *   /ui/static/<file>                             CSS and the copy-to-clipboard script
 *
 * Repository names contain slashes, so the name is followed by a `-` component: a name
 * component is `[a-z0-9]+(separator[a-z0-9]+)*` (src/primitives/types.ts), never a lone `-`,
 * so the first `/-/` always ends the name.
 */
import type { Digest } from '../../primitives/types.js';

export const UI_ROOT = '/ui';
const REPOSITORIES = '/ui/repositories/';

/** What a UI request path names (as Keel receives it, without the prefix). */
export type UiRoute =
  | { page: 'home' }
  | { page: 'repository'; name: string }
  | { page: 'tag'; name: string; tag: string }
  | { page: 'manifest'; name: string; digest: string }
  | { page: 'static'; file: string }
  | { page: 'proxy' }
  | { page: 'status' }
  | { page: 'sign-in' }
  | { page: 'sign-out' }
  | { page: 'delete-tag'; name: string; tag: string }
  | { page: 'delete-manifest'; name: string; digest: string }
  | { page: 'unknown' };

/** A tag or digest as a path segment: escaped, but a digest's ':' kept (a path may hold it). */
function segment(value: string): string {
  return encodeURIComponent(value).replace(/%3A/g, ':');
}

export class UiPaths {
  /** `prefix`: "" or "/a/b" (validated by the config schema). */
  constructor(readonly prefix: string) {}

  home(last?: string): string {
    return `${this.prefix}/${last === undefined ? '' : `?last=${encodeURIComponent(last)}`}`;
  }

  /** The home page with a listing's parameters; the defaults (local store, by name A→Z, no search) are left out. */
  homeQuery(query: { store: string; q: string; sort: string; order: string; cursor?: string | undefined }): string {
    const params = new URLSearchParams();
    if (query.store !== 'local') params.set('store', query.store);
    if (query.q !== '') params.set('q', query.q);
    if (query.sort !== 'name' || query.order !== 'asc') {
      params.set('sort', query.sort);
      params.set('order', query.order);
    }
    if (query.cursor !== undefined) params.set('cursor', query.cursor);
    const text = params.toString();
    return `${this.prefix}/${text === '' ? '' : `?${text}`}`;
  }

  asset(file: string): string {
    return `${this.prefix}/ui/static/${file}`;
  }

  proxy(): string {
    return `${this.prefix}/ui/proxy`;
  }

  status(): string {
    return `${this.prefix}/ui/status`;
  }

  repository(name: string): string {
    return `${this.prefix}${REPOSITORIES}${name}`;
  }

  /** A repository's tags in another order or from a cursor; newest first is the default. */
  repositoryQuery(name: string, query: { sort: 'date' | 'name'; cursor?: string | undefined }): string {
    const params = new URLSearchParams();
    if (query.sort !== 'date') params.set('sort', query.sort);
    if (query.cursor !== undefined) params.set('cursor', query.cursor);
    const text = params.toString();
    return `${this.repository(name)}${text === '' ? '' : `?${text}`}`;
  }

  tag(name: string, tag: string): string {
    return `${this.prefix}${REPOSITORIES}${name}/-/tags/${segment(tag)}`;
  }

  manifest(name: string, digest: Digest | string): string {
    return `${this.prefix}${REPOSITORIES}${name}/-/manifests/${segment(digest)}`;
  }

  /** The confirmation page (GET) and the action (POST) of deleting a tag or a manifest. */
  deleteTag(name: string, tag: string): string {
    return `${this.tag(name, tag)}/delete`;
  }

  deleteManifest(name: string, digest: Digest | string): string {
    return `${this.manifest(name, digest)}/delete`;
  }

  /** The sign-in form, coming back to `next` (a path of this UI) once signed in. */
  signIn(next?: string): string {
    return `${this.prefix}/ui/sign-in${next === undefined ? '' : `?next=${encodeURIComponent(next)}`}`;
  }

  signOut(): string {
    return `${this.prefix}/ui/sign-out`;
  }
}

function decode(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** Reads a request path (Express's req.path: not decoded, no query). */
export function parseUiPath(path: string): UiRoute {
  if (path === '/' || path === '') return { page: 'home' };
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  if (trimmed === '/ui') return { page: 'home' };
  if (trimmed === '/ui/proxy') return { page: 'proxy' };
  if (trimmed === '/ui/status') return { page: 'status' };
  if (trimmed === '/ui/sign-in') return { page: 'sign-in' };
  if (trimmed === '/ui/sign-out') return { page: 'sign-out' };
  if (trimmed.startsWith('/ui/static/')) {
    const file = trimmed.slice('/ui/static/'.length);
    return file.includes('/') ? { page: 'unknown' } : { page: 'static', file };
  }
  if (!trimmed.startsWith(REPOSITORIES)) return { page: 'unknown' };
  const rest = decode(trimmed.slice(REPOSITORIES.length));
  if (rest === undefined || rest === '') return { page: 'unknown' };
  const dash = rest.indexOf('/-/');
  if (dash < 0) return { page: 'repository', name: rest };
  const name = rest.slice(0, dash);
  const [kind, reference, ...more] = rest.slice(dash + 3).split('/');
  if (!reference || more.length > 1 || (more.length === 1 && more[0] !== 'delete')) return { page: 'unknown' };
  const remove = more.length === 1;
  if (kind === 'tags') return remove ? { page: 'delete-tag', name, tag: reference } : { page: 'tag', name, tag: reference };
  if (kind === 'manifests') return remove ? { page: 'delete-manifest', name, digest: reference } : { page: 'manifest', name, digest: reference };
  return { page: 'unknown' };
}
