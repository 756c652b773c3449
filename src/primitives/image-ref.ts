/** An image reference as people write it: `<name>:<tag>`, `<name>@<digest>`, or `<name>` (latest). */
import { RegistryError } from './errors.js';
import { isTag, parseDigest, parseRepoName, type Reference, type RepoName, type Tag } from './types.js';

export interface ImageRef {
  repo: RepoName;
  ref: Reference;
}

export function parseImageRef(text: string): ImageRef {
  const at = text.indexOf('@');
  if (at >= 0) return { repo: parseRepoName(text.slice(0, at)), ref: { kind: 'digest', digest: parseDigest(text.slice(at + 1)) } };
  const colon = text.lastIndexOf(':');
  const hasTag = colon > text.lastIndexOf('/');
  const repo = parseRepoName(hasTag ? text.slice(0, colon) : text);
  const tag = hasTag ? text.slice(colon + 1) : 'latest';
  if (!isTag(tag)) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown: not a valid tag', { tag: tag.slice(0, 200) });
  return { repo, ref: { kind: 'tag', tag: tag as Tag } };
}

export function formatImageRef({ repo, ref }: ImageRef): string {
  return ref.kind === 'digest' ? `${repo}@${ref.digest}` : `${repo}:${ref.tag}`;
}
