/** `GET /v2/<name>/referrers/<digest>`, with the optional `artifactType` filter. */
import type { MethodTable } from '../handler.js';
import { digestParam, queryString, repoName } from '../request.js';
import { OCI_INDEX } from '../../primitives/media-types.js';

export const referrerRoutes: MethodTable<'referrers'> = {
  GET: async (req, res, route, { registry }) => {
    const artifactType = queryString(req, 'artifactType');
    const index = await registry.referrers.list(repoName(route.name), digestParam(route.digest), artifactType);
    if (artifactType !== undefined) res.set('OCI-Filters-Applied', 'artifactType');
    res.status(200).set('Content-Type', OCI_INDEX).end(JSON.stringify(index));
  },
};
