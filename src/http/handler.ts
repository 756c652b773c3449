/** The shape of a V2 route handler: Express request and response plus the matched route. */
import type { Request, Response } from 'express';
import type { Mirror } from '../proxy/mirror.js';
import type { PullThrough } from '../proxy/pull-through.js';
import type { Registry } from '../registry/registry.js';
import type { BlobStreamGate } from './blob-stream-gate.js';
import type { V2Route } from './route-match.js';

export type RouteOf<K extends V2Route['kind']> = Extract<V2Route, { kind: K }>;

/** What handlers call: the local registry, and the pull-through cache for `proxy/` names. */
export interface Services {
  registry: Registry;
  proxy: PullThrough;
  mirror: Mirror;
  /** Admission of blob GET bodies (limits.blob_streams): beyond it they wait, then get 503. */
  blobStreams: BlobStreamGate;
}

export type Handler<K extends V2Route['kind']> = (req: Request, res: Response, route: RouteOf<K>, services: Services) => Promise<void>;

/** Handlers of one route by HTTP method. HEAD falls back to GET's handler only where listed. */
export type MethodTable<K extends V2Route['kind']> = Partial<Record<'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE', Handler<K>>>;
