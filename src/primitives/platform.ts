/**
 * Platforms of an image index (`os/architecture[/variant]`): parsed from what a user types
 * (`linux/arm64`, `linux/arm/v7`), read from an index's `manifests[].platform`, and matched.
 * Shared by export (which image of an index docker gets) and cache warming (which children
 * to fetch).
 */
import { RegistryError } from './errors.js';
import type { Digest } from './types.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** `os/architecture[/variant]`; anything else is a 400 UNSUPPORTED naming the form. */
export function parsePlatform(raw: string): Platform {
  const [os, architecture, variant, ...rest] = raw.split('/');
  if (!os || !architecture || rest.length > 0) {
    throw new RegistryError('UNSUPPORTED', 'platform is os/architecture[/variant], e.g. linux/arm64', { platform: raw.slice(0, 100) }, 400);
  }
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/');
}

/** The platform of each child an index names (children without one are left out). */
export function platformsOf(indexBytes: Buffer): Map<Digest, Platform> {
  const platforms = new Map<Digest, Platform>();
  const raw = JSON.parse(indexBytes.toString('utf8')) as { manifests?: { digest?: unknown; platform?: Partial<Platform> }[] };
  for (const m of raw.manifests ?? []) {
    const p = m.platform;
    if (typeof m.digest === 'string' && typeof p?.os === 'string' && typeof p.architecture === 'string') {
      platforms.set(m.digest as Digest, { os: p.os, architecture: p.architecture, ...(typeof p.variant === 'string' ? { variant: p.variant } : {}) });
    }
  }
  return platforms;
}

/** Whether `p` is `wanted` (a wanted platform without a variant matches every variant). */
export function matchesPlatform(p: Platform | undefined, wanted: Platform): boolean {
  return p !== undefined && p.os === wanted.os && p.architecture === wanted.architecture && (wanted.variant === undefined || p.variant === wanted.variant);
}
