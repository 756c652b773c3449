import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, errorCode, OCI_INDEX, OCI_MANIFEST, sha256 } from '../support/oci-client.js';

let keel: KeelProcess;
let client: Client;
beforeAll(async () => {
  keel = await startKeel();
  client = new Client(keel.url);
});
afterAll(() => keel.destroy());

async function pushReferrer(repo: string, subject: { digest: string; size: number }, artifactType: string, annotations?: Record<string, string>) {
  const empty = await client.pushBlob(repo, '{}');
  const body = await client.pushBlob(repo, `payload for ${artifactType} ${Math.random()}`);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { ...empty, mediaType: 'application/vnd.oci.empty.v1+json' },
    layers: [{ ...body, mediaType: 'application/octet-stream' }],
    subject: { mediaType: OCI_MANIFEST, ...subject },
    ...(annotations ? { annotations } : {}),
  };
  const bytes = JSON.stringify(manifest);
  const res = await client.fetch(`/v2/${repo}/manifests/${sha256(bytes)}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: bytes });
  expect(res.status).toBe(201);
  return { digest: sha256(bytes), size: bytes.length, res };
}

describe('referrers API', () => {
  test('lists manifests whose subject is the digest, with artifactType and annotations', async () => {
    const repo = 'ref/app';
    const image = await client.pushImage(repo, 'v1');
    const subject = { digest: image.digest, size: JSON.stringify(image.manifest).length };
    const sig = await pushReferrer(repo, subject, 'application/vnd.example.signature', { 'org.example.signer': 'ci' });
    expect(sig.res.headers.get('oci-subject')).toBe(image.digest);
    const sbom = await pushReferrer(repo, subject, 'application/vnd.example.sbom');

    const res = await client.fetch(`/v2/${repo}/referrers/${image.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(OCI_INDEX);
    const index = (await res.json()) as { schemaVersion: number; mediaType: string; manifests: Array<Record<string, unknown>> };
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe(OCI_INDEX);
    expect(index.manifests).toEqual(
      expect.arrayContaining([
        { mediaType: OCI_MANIFEST, digest: sig.digest, size: sig.size, artifactType: 'application/vnd.example.signature', annotations: { 'org.example.signer': 'ci' } },
        { mediaType: OCI_MANIFEST, digest: sbom.digest, size: sbom.size, artifactType: 'application/vnd.example.sbom' },
      ]),
    );
    expect(index.manifests).toHaveLength(2);

    const filtered = await client.fetch(`/v2/${repo}/referrers/${image.digest}?artifactType=application/vnd.example.sbom`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    const only = (await filtered.json()) as { manifests: Array<{ digest: string }> };
    expect(only.manifests.map((m) => m.digest)).toEqual([sbom.digest]);
  });

  test('a subject that does not exist (yet) is accepted and listed', async () => {
    const repo = 'ref/early';
    const missing = { digest: sha256('not pushed yet'), size: 100 };
    const ref = await pushReferrer(repo, missing, 'application/vnd.example.sig');
    const res = await client.fetch(`/v2/${repo}/referrers/${missing.digest}`);
    expect(((await res.json()) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest)).toEqual([ref.digest]);
  });

  test('a subject without referrers gives an empty index; a bad digest is DIGEST_INVALID', async () => {
    await client.pushImage('ref/none', 'v1');
    const res = await client.fetch(`/v2/ref/none/referrers/${sha256('x')}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    const bad = await client.fetch('/v2/ref/none/referrers/sha256:nothex');
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe('DIGEST_INVALID');
  });
});
