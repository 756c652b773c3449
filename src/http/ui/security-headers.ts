/**
 * The headers every UI response carries, pages, assets and error pages alike. Repository
 * names, tags, labels and annotations are the pushers' content, so the pages are written as
 * if they were hostile: Preact escapes what is interpolated, and the policy below makes an
 * escape that was missed harmless anyway: no inline script or style runs, nothing loads from
 * elsewhere, forms post only here, and no other site may frame a page (clickjacking).
 */
import type { Response } from 'express';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
});

export function setSecurityHeaders(res: Response): void {
  res.set(SECURITY_HEADERS);
}
