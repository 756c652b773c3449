/**
 * Image import and export for air-gapped sites:
 *   POST /api/v1/import                  multipart: repository, tag (repeatable), archive (a
 *                                        `docker save` tar or an OCI layout tar, gzipped or not)
 *                                        → 201 and what was imported, as JSON
 *   GET|HEAD /api/v1/export/<name>:<tag> an OCI layout tar with a docker manifest.json beside it
 *            /api/v1/export/<name>@<digest>  (?platform=os/arch picks docker's image of an index)
 * Import needs pull and push on the repository, export pull (api-access.ts when auth is on).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { DEFAULT_IMPORT_LIMITS, importArchive, type ImportLimits } from '../../archive/import-archive.js';
import { planExport, writeExport } from '../../archive/oci-layout-export.js';
import { parseImageRef, type ImageRef } from '../../primitives/image-ref.js';
import { parsePlatform } from '../../primitives/platform.js';
import { isProxyName } from '../../proxy/proxy-name.js';
import { RegistryError } from '../../primitives/errors.js';
import type { Registry } from '../../registry/registry.js';
import { digestHex, type Reference, type RepoName } from '../../primitives/types.js';
import { authorize, identify, type ApiAuth } from '../api-access.js';
import { receiveImport } from '../import-form.js';
import { queryString } from '../request.js';
import { formatScope } from '../../auth/scope.js';

export interface ArchiveRouterDeps {
  registry: Registry;
  /** Present when authentication is on. */
  auth?: ApiAuth;
  limits?: Partial<ImportLimits>;
}

const IMPORT_PATH = /^\/api\/v1\/import\/?$/;
const EXPORT_PREFIX = '/api/v1/export/';

function notAllowed(res: Response, method: string, allow: string): never {
  res.set('Allow', allow);
  throw new RegistryError('UNSUPPORTED', `${method} is not supported on this endpoint`, { method });
}

/** `<name>:<tag>`, `<name>@<digest>` or `<name>` (latest), URL-encoded. */
function parseTarget(raw: string): ImageRef {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new RegistryError('NAME_INVALID', 'invalid image reference', { reference: raw.slice(0, 300) });
  }
  return parseImageRef(decoded);
}

function optionalPlatform(raw: string | undefined): ReturnType<typeof parsePlatform> | undefined {
  return raw === undefined ? undefined : parsePlatform(raw);
}

function fileName(repo: RepoName, ref: Reference): string {
  const suffix = ref.kind === 'tag' ? ref.tag : digestHex(ref.digest).slice(0, 12);
  return `${repo.replace(/\//g, '_')}_${suffix}.tar`;
}

export function archiveRouter(deps: ArchiveRouterDeps): RequestHandler {
  const limits: ImportLimits = { ...DEFAULT_IMPORT_LIMITS, ...deps.limits };
  const { registry, auth } = deps;

  async function importRoute(req: Request, res: Response): Promise<void> {
    // Credentials are checked before any of the body is read; rights once the repository is known.
    const caller = auth ? await identify(req, res, auth, undefined) : undefined;
    const result = await receiveImport(req, (form, archive) => {
      if (auth && caller) authorize(req, res, auth, caller, form.repo, ['pull', 'push']);
      return importArchive(registry, { repo: form.repo, tags: form.tags, archive }, limits);
    });
    res
      .status(201)
      .set({ Location: `/v2/${result.repository}/manifests/${result.digest}`, 'Docker-Content-Digest': result.digest })
      .json(result);
  }

  async function exportRoute(req: Request, res: Response): Promise<void> {
    const { repo, ref } = parseTarget(req.path.slice(EXPORT_PREFIX.length));
    if (isProxyName(repo)) {
      throw new RegistryError('UNSUPPORTED', 'export reads local repositories; copy a proxy/ image into a local repository first', { name: repo }, 400);
    }
    if (auth) {
      const caller = await identify(req, res, auth, formatScope(repo, ['pull']));
      authorize(req, res, auth, caller, repo, ['pull']);
    }
    const plan = await planExport(registry, repo, ref, optionalPlatform(queryString(req, 'platform')));
    res.status(200).set({
      'Content-Type': 'application/x-tar',
      'Content-Length': String(plan.size),
      'Content-Disposition': `attachment; filename="${fileName(repo, ref)}"`,
      'Docker-Content-Digest': plan.digest,
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await writeExport(registry, plan, res);
  }

  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (IMPORT_PATH.test(req.path)) {
      if (req.method !== 'POST') notAllowed(res, req.method, 'POST');
      await importRoute(req, res);
    } else if (req.path.startsWith(EXPORT_PREFIX)) {
      if (req.method !== 'GET' && req.method !== 'HEAD') notAllowed(res, req.method, 'GET, HEAD');
      await exportRoute(req, res);
    } else {
      next();
    }
  };
}
