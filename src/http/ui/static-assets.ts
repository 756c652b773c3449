/**
 * The files under /ui/static/: their bytes, type and a validator. They change only with a new
 * build, so browsers may keep them an hour and then revalidate (ETag: the content's hash).
 */
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { COPY_JS } from './static/copy-js.js';
import { KEEL_CSS } from './static/keel-css.js';

interface Asset {
  type: string;
  body: Buffer;
  etag: string;
}

function asset(type: string, text: string): Asset {
  const body = Buffer.from(text, 'utf8');
  return { type, body, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` };
}

const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ['keel.css', asset('text/css; charset=utf-8', KEEL_CSS)],
  ['copy.js', asset('text/javascript; charset=utf-8', COPY_JS)],
]);

/** Answers the asset, or returns false when there is no such file (the caller's 404). */
export function sendAsset(req: Request, res: Response, file: string): boolean {
  const found = ASSETS.get(file);
  if (!found) return false;
  res.set({ 'Content-Type': found.type, 'Cache-Control': 'public, max-age=3600', ETag: found.etag });
  if (req.headers['if-none-match'] === found.etag) {
    res.status(304).end();
    return true;
  }
  res.set('Content-Length', String(found.body.length));
  res.status(200).end(req.method === 'HEAD' ? undefined : found.body);
  return true;
}
