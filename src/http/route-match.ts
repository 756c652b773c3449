/**
 * Which V2 endpoint a path names. Repository names contain slashes, so routes are told
 * apart by their suffix; the name part must match the name grammar as it stands (no
 * percent-encoding), the reference part is percent-decoded once.
 */
export type V2Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'referrers'; name: string; digest: string };

/**
 * The hottest routes first (every pull asks for manifests and blobs). Only `uploads` and
 * `blob` can both match one path (`.../blobs/uploads`), and `uploads` must win; every other
 * pair is told apart by the path's last segments, so their order does not change a match.
 */
const PATTERNS: Array<[RegExp, (m: RegExpExecArray) => V2Route]> = [
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1] as string, reference: m[2] as string })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1] as string })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1] as string, digest: m[2] as string })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1] as string, id: m[2] as string })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1] as string, digest: m[2] as string })],
  [/^\/v2\/(.+)\/tags\/list\/?$/, (m) => ({ kind: 'tags', name: m[1] as string })],
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/_catalog\/?$/, () => ({ kind: 'catalog' })],
];

/** Longest path Keel looks at; longer ones cannot name anything valid. */
const MAX_PATH = 1024;

export function matchV2(path: string): V2Route | undefined {
  if (!path.startsWith('/v2') || path.length > MAX_PATH) return undefined;
  for (const [re, build] of PATTERNS) {
    const m = re.exec(path);
    if (m) return build(m);
  }
  return undefined;
}

/**
 * Where a request keeps its matched route: a property under a symbol of this module. A
 * WeakMap entry per request (as before) made every young-generation GC walk the map's
 * entries; a property dies with its request.
 */
const ROUTE = Symbol('keel.v2Route');

interface Routed {
  [ROUTE]?: V2Route | null;
}

/**
 * The V2 route of a request, matched once: authentication, the router and the request log
 * all ask, and the patterns need not run three times per request.
 */
export function routeOf(req: { path: string }): V2Route | undefined {
  const routed = req as Routed;
  let route = routed[ROUTE];
  if (route === undefined) {
    route = matchV2(req.path) ?? null;
    routed[ROUTE] = route;
  }
  return route ?? undefined;
}

/** Percent-decodes a reference segment; undefined when it is malformed. */
export function decodeSegment(segment: string): string | undefined {
  // Nothing to decode in almost every reference and digest.
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
