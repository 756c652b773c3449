/** Writes a page: the rendered component as a whole HTML document, with the UI's headers. */
import type { Response } from 'express';
import type { JSX } from 'preact';
import { renderToString } from 'preact-render-to-string';
import { setSecurityHeaders } from './security-headers.js';

export function sendPage(res: Response, status: number, page: JSX.Element): void {
  // renderToString escapes every interpolated string and attribute value.
  const html = `<!doctype html>\n${renderToString(page)}`;
  setSecurityHeaders(res);
  res.status(status).set({ 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': String(Buffer.byteLength(html)) });
  res.end(res.req.method === 'HEAD' ? undefined : html);
}
