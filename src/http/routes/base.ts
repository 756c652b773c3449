/** `GET /v2/`: the API version check every client makes first. */
import type { MethodTable } from '../handler.js';

export const baseRoutes: MethodTable<'base'> = {
  GET: async (_req, res) => {
    res.status(200).json({});
  },
  HEAD: async (_req, res) => {
    res.status(200).set('Content-Type', 'application/json').set('Content-Length', '2').end();
  },
};
