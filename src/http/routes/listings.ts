/** `GET /v2/<name>/tags/list` and `GET /v2/_catalog`, with `n`/`last` pagination and Link headers. */
import type { MethodTable } from '../handler.js';
import { nextLink, pageRequest, repoName } from '../request.js';

export const tagRoutes: MethodTable<'tags'> = {
  GET: async (req, res, route, { registry }) => {
    const repo = repoName(route.name);
    const page = pageRequest(req);
    const { items, next } = await registry.listings.tags(repo, page);
    if (next !== undefined) res.set('Link', nextLink(`/v2/${repo}/tags/list`, page.n, next));
    res.status(200).json({ name: repo, tags: items });
  },
};

export const catalogRoutes: MethodTable<'catalog'> = {
  GET: async (req, res, _route, { registry }) => {
    const page = pageRequest(req);
    // With auth on, a user sees the repositories they may pull; the page is built from those alone.
    const visible = res.locals.mayList as ((repo: string) => boolean) | undefined;
    const { items, next } = await registry.listings.repositories(page, visible);
    if (next !== undefined) res.set('Link', nextLink('/v2/_catalog', page.n, next));
    res.status(200).json({ repositories: items });
  },
};
