/**
 * Checks on an OCI layout a client pulled into (skopeo copy ... oci:DIR:TAG): which manifest
 * a tag names, and that the blobs are byte for byte those of the layout that was pushed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { sha256, type OciLayout } from './images.js';

interface OciIndexJson {
  manifests: { digest: string; annotations?: Record<string, string> }[];
}

/** The digest that index.json of the layout in `dir` names under `tag`. */
export async function taggedDigest(dir: string, tag: string): Promise<string | undefined> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as OciIndexJson;
  return index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)?.digest;
}

/** Every digest's bytes in the layout in `dir` hash to it and equal the bytes in `source`. */
export async function expectSameBlobs(dir: string, source: OciLayout, digests: readonly string[]): Promise<void> {
  for (const digest of digests) {
    const pulled = await readFile(join(dir, 'blobs', ...digest.split(':')));
    expect([digest, sha256(pulled)]).toEqual([digest, digest]);
    expect(pulled.equals(await readFile(source.blobPath(digest)))).toBe(true);
  }
}
