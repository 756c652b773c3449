// The web UI in a real browser: Debian's chromium, headless, against a Keel holding images
// pushed with skopeo (a two-platform index, and an image whose label, annotation and names
// are as hostile as the grammar and the content allow). What a person sees: the home list,
// a tag page (layers, config), drill-down from an index to one platform's image, the copy
// button putting the docker command on the clipboard, a 404 page, and no script of the
// pushers' running. Screenshots of each page go to test-output/screenshots/.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { startBrowser, screenshot, type TestBrowser } from '../support/browser.js';
import { createSkopeo, type Skopeo } from '../support/e2e/skopeo.js';
import { LINUX_AMD64, LINUX_ARM64, OciLayout, type BuiltImage } from '../support/e2e/images.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, OCI_MANIFEST } from '../support/oci-client.js';
import { CONTENT_SECURITY_POLICY } from '../../src/http/ui/security-headers.js';

const MULTI = 'e2e/ui/multi';
/** As hostile as a repository name may be: every separator the grammar allows. */
const HOSTILE = 'e2e/ui--hostile__name.x-y/a_b';
const HOSTILE_TAG = 'Tag_1.0-rc--x';
const SCRIPT_LABEL = '<script>alert(1)</script>';
const IMG_ANNOTATION = '"><img src=x onerror=alert(1)>';
const LABEL_KEY = '<b>org.example.key</b>';

jest.setTimeout(180_000);

let keel: KeelProcess;
let skopeo: Skopeo;
let layout: OciLayout;
let browser: TestBrowser;
let amd64: BuiltImage;
let arm64: BuiltImage;
let hostileImage: BuiltImage;
let sbomDigest: string;
const dialogs: string[] = [];

/** A page of a fresh context that records every dialog (alert, confirm) anything opens. */
async function openPage(clipboard = false): Promise<Page> {
  const { page } = await browser.newPage(clipboard ? { clipboardFor: keel.url } : {});
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return page;
}

beforeAll(async () => {
  await ensureTools(['skopeo', 'chromium']);
  keel = await startKeel();
  skopeo = await createSkopeo();
  layout = await OciLayout.create();
  amd64 = await layout.addImage({ platform: LINUX_AMD64, layers: 2, layerSize: 64 * 1024, labels: { 'org.opencontainers.image.title': 'multi amd64' } });
  arm64 = await layout.addImage({ platform: LINUX_ARM64, layers: 1, layerSize: 32 * 1024 });
  await layout.addIndex([amd64, arm64], 'latest');
  hostileImage = await layout.addImage({ tag: 'hostile', layers: 1, layerSize: 16 * 1024, labels: { 'org.example.script': SCRIPT_LABEL, [LABEL_KEY]: 'value' } });
  await skopeo.copy(layout.ref('latest'), `docker://${keel.host}/${MULTI}:latest`, { all: true, preserveDigests: true });
  await skopeo.copy(layout.ref('hostile'), `docker://${keel.host}/${HOSTILE}:${HOSTILE_TAG}`, { preserveDigests: true });
  // An SBOM-like artifact referring to the hostile image, with a hostile annotation.
  const client = new Client(keel.url);
  const empty = await client.pushBlob(HOSTILE, '{}');
  const sbom = await client.pushBlob(HOSTILE, '{"spdxVersion":"SPDX-2.3"}');
  const pushed = await client.pushManifest(
    HOSTILE,
    'sbom',
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty.digest, size: empty.size },
      layers: [{ mediaType: 'application/spdx+json', digest: sbom.digest, size: sbom.size }],
      subject: { mediaType: OCI_MANIFEST, digest: hostileImage.manifest.digest, size: hostileImage.manifest.size },
      annotations: { 'org.example.note': IMG_ANNOTATION },
    },
    OCI_MANIFEST,
  );
  sbomDigest = pushed.digest;
  browser = await startBrowser();
});

afterAll(async () => {
  await browser?.close();
  await skopeo?.remove();
  await layout?.remove();
  await keel?.destroy();
  // Whatever test ran, no page may have opened a dialog.
  expect(dialogs).toEqual([]);
});

describe('web UI in chromium', () => {
  test('the home page lists the pushed repositories, each linking to its tags (newest first, or by name)', async () => {
    const page = await openPage();
    const res = await page.goto(`${keel.url}/`);
    expect(res?.status()).toBe(200);
    await expect(page.title()).resolves.toBe('Repositories · Keel');
    const names = await page.locator('table.repositories td.name').allInnerTexts();
    expect(names).toEqual([HOSTILE, MULTI]);
    await expect(page.locator('header.top nav a').allTextContents()).resolves.toEqual(['Repositories', 'Proxy cache', 'Status']);
    await screenshot(page, 'home');
    await page.locator('td.name', { hasText: MULTI }).locator('a').last().click();
    await expect(page.locator('table.tags td:first-child a').allTextContents()).resolves.toEqual(['latest']);
    await expect(page.locator('table.tags td').nth(2).innerText()).resolves.toBe('index');
    // The hostile repository's two tags: the SBOM's was pushed last, so it comes first; by name, the other way.
    await page.goto(`${keel.url}/ui/repositories/${HOSTILE}`);
    await expect(page.locator('table.tags td:first-child a').allTextContents()).resolves.toEqual(['sbom', HOSTILE_TAG]);
    await expect(page.locator('p.summary').innerText()).resolves.toMatch(/^2 tags, 2 manifests, [\d.]+ KiB; last push \d{4}-\d\d-\d\d \d\d:\d\d UTC, last pull /);
    await page.locator('p.sorts a', { hasText: 'name' }).click();
    await expect(page.locator('table.tags td:first-child a').allTextContents()).resolves.toEqual([HOSTILE_TAG, 'sbom']);
    await screenshot(page, 'repository');
  });

  test('the list sorts by size and last push, both ways, searches by a part of the name and by namespace, and keeps the proxy cache apart', async () => {
    const page = await openPage();
    await page.goto(`${keel.url}/`);
    const names = (): Promise<string[]> => page.locator('table.repositories td.name').allInnerTexts();
    // The multi-platform repository holds three images' layers: the larger of the two.
    await page.locator('th a.sort', { hasText: 'Size' }).click();
    await expect(names()).resolves.toEqual([MULTI, HOSTILE]);
    await expect(page.locator('th a.sort.current').innerText()).resolves.toBe('Size ▼');
    await page.locator('th a.sort', { hasText: 'Size' }).click();
    await expect(names()).resolves.toEqual([HOSTILE, MULTI]);
    // The hostile repository had the last push (its SBOM).
    await page.locator('th a.sort', { hasText: 'Last push' }).click();
    await expect(names()).resolves.toEqual([HOSTILE, MULTI]);
    await screenshot(page, 'home-by-push');
    await page.locator('form.search input[type=search]').fill('multi');
    await page.locator('form.search button').click();
    await expect(names()).resolves.toEqual([MULTI]);
    expect(new URL(page.url()).searchParams.get('sort')).toBe('pushed');
    await page.locator('form.search input[type=search]').fill('<script>nothing</script>');
    await page.locator('form.search button').click();
    await expect(page.locator('p.empty').innerText()).resolves.toBe('No repository matches “<script>nothing</script>”.');
    // A namespace link lists that namespace only.
    await page.goto(`${keel.url}/`);
    await page.locator('td.name', { hasText: MULTI }).locator('a.namespace').click();
    expect(new URL(page.url()).searchParams.get('q')).toBe('e2e/');
    await expect(names()).resolves.toEqual([HOSTILE, MULTI]);
    await page.locator('nav.tabs a', { hasText: 'Proxy cache' }).click();
    await expect(page.locator('p.empty').innerText()).resolves.toBe('No repository matches “e2e/”.');
    await page.goto(`${keel.url}/?store=proxy`);
    await expect(page.locator('p.empty').innerText()).resolves.toBe('Nothing cached yet: pull through proxy/<upstream>/... to fill the cache.');
    await screenshot(page, 'home-proxy');
  });

  test('an index shows its platforms, and one click leads to that platform image: layers, total, config', async () => {
    const page = await openPage();
    await page.goto(`${keel.url}/ui/repositories/${MULTI}/-/tags/latest`);
    await expect(page.locator('dd.media-type').textContent()).resolves.toBe('application/vnd.oci.image.index.v1+json');
    await expect(page.locator('h1 .badge.kind').textContent()).resolves.toBe('Multi-platform index');
    await expect(page.locator('table.platforms a.platform').allTextContents()).resolves.toEqual(['linux/amd64', 'linux/arm64/v8']);
    await screenshot(page, 'index');
    await page.locator('table.platforms a.platform', { hasText: 'linux/amd64' }).click();
    expect(page.url()).toBe(`${keel.url}/ui/repositories/${MULTI}/-/manifests/${amd64.manifest.digest}`);
    await expect(page.locator('h1 .badge.kind').textContent()).resolves.toBe('Image');
    const layerDigests = await page.locator('table.layers tbody tr td:nth-child(2)').allTextContents();
    expect(layerDigests).toEqual(amd64.layers.map((l) => l.descriptor.digest));
    const total = amd64.layers.reduce((sum, l) => sum + l.descriptor.size, 0);
    await expect(page.locator('table.layers td.total span').getAttribute('title')).resolves.toBe(`${total} bytes`);
    await expect(page.locator('dd[data-field="Created"]').textContent()).resolves.toBe('2024-01-01 00:00:00 UTC');
    await expect(page.locator('dd[data-field="Platform"]').textContent()).resolves.toBe('linux/amd64');
    await expect(page.locator('table.labels tr', { hasText: 'org.opencontainers.image.title' }).locator('td').nth(1).textContent()).resolves.toBe('multi amd64');
    await expect(page.locator('table.history pre').allTextContents()).resolves.toEqual(['keel e2e layer 0', 'keel e2e layer 1']);
    // The environment is folded away until asked for.
    await expect(page.locator('details.env pre').isVisible()).resolves.toBe(false);
    await page.locator('details.env summary').click();
    await expect(page.locator('details.env pre').textContent()).resolves.toBe('PATH=/usr/local/bin:/usr/bin:/bin');
    await screenshot(page, 'image');
  });

  test('the copy button puts the docker pull command, with the host the browser used, on the clipboard', async () => {
    const page = await openPage(true);
    await page.goto(`${keel.url}/ui/repositories/${MULTI}/-/tags/latest`);
    const docker = `docker pull ${keel.host}/${MULTI}:latest`;
    await expect(page.locator('#pull-docker').textContent()).resolves.toBe(docker);
    await expect(page.locator('#pull-ctr').textContent()).resolves.toBe(`ctr image pull --plain-http ${keel.host}/${MULTI}:latest`);
    await expect(page.locator('#pull-podman').textContent()).resolves.toBe(`podman pull --tls-verify=false ${keel.host}/${MULTI}:latest`);
    await page.locator('button.copy[data-copy-target="pull-docker"]').click();
    await page.locator('button.copy.copied[data-copy-target="pull-docker"]').waitFor();
    await expect(page.evaluate(() => navigator.clipboard.readText())).resolves.toBe(docker);
  });

  test('hostile label, annotation and names render as text: no script runs, nothing is injected', async () => {
    const page = await openPage();
    const res = await page.goto(`${keel.url}/ui/repositories/${HOSTILE}/-/tags/${HOSTILE_TAG}`);
    expect(res?.status()).toBe(200);
    await expect(page.locator('h1 .tag-name').textContent()).resolves.toBe(HOSTILE_TAG);
    await expect(page.locator('table.labels tr', { hasText: 'org.example.script' }).locator('td').nth(1).textContent()).resolves.toBe(SCRIPT_LABEL);
    await expect(page.locator('table.labels td').filter({ hasText: LABEL_KEY }).count()).resolves.toBe(1);
    // The only script is Keel's own, and the label's <b> became no element.
    await expect(page.locator('script').evaluateAll((s) => s.map((e) => e.getAttribute('src')))).resolves.toEqual(['/ui/static/copy.js']);
    await expect(page.locator('main b').count()).resolves.toBe(0);
    // The SBOM refers to this image; its page shows the annotation as text.
    await expect(page.locator('table.referrers td.mono').allTextContents()).resolves.toEqual(['application/spdx+json']);
    await screenshot(page, 'hostile-image');
    await page.locator('table.referrers a').click();
    expect(page.url()).toBe(`${keel.url}/ui/repositories/${HOSTILE}/-/manifests/${sbomDigest}`);
    await expect(page.locator('table.annotations tr', { hasText: 'org.example.note' }).locator('td').nth(1).textContent()).resolves.toBe(IMG_ANNOTATION);
    await expect(page.locator('img').count()).resolves.toBe(0);
    await expect(page.locator('dd a.digest').last().textContent()).resolves.toBe(hostileImage.manifest.digest);
    await screenshot(page, 'hostile-referrer');
    expect(dialogs).toEqual([]);
  });

  test('an unknown tag is an HTML 404 page; /v2 still answers JSON', async () => {
    const page = await openPage();
    const res = await page.goto(`${keel.url}/ui/repositories/${MULTI}/-/tags/nope`);
    expect(res?.status()).toBe(404);
    expect(res?.headers()['content-type']).toBe('text/html; charset=utf-8');
    await expect(page.locator('h1').textContent()).resolves.toBe('Not found');
    await screenshot(page, 'not-found');
    const v2 = await fetch(`${keel.url}/v2/${MULTI}/manifests/nope`);
    expect(v2.status).toBe(404);
    expect(v2.headers.get('content-type')).toMatch(/^application\/json/);
  });

  test('every UI answer carries the CSP and anti-framing headers, and another site cannot frame a page', async () => {
    for (const path of ['/', `/ui/repositories/${MULTI}/-/tags/latest`, '/ui/static/keel.css', '/ui/nope']) {
      const res = await fetch(`${keel.url}${path}`);
      expect([path, res.headers.get('content-security-policy')]).toEqual([path, CONTENT_SECURITY_POLICY]);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('same-origin');
    }
    // A page of another origin (another port) that frames Keel's home page.
    const framer: Server = createServer((_req, res) => {
      res.setHeader('Content-Type', 'text/html');
      res.end(`<!doctype html><title>framer</title><iframe id="f" src="${keel.url}/"></iframe>`);
    });
    await new Promise<void>((r) => framer.listen(0, '127.0.0.1', r));
    try {
      const page = await openPage();
      // The load event waits for the frame, refused or not.
      await page.goto(`http://127.0.0.1:${(framer.address() as AddressInfo).port}/`, { waitUntil: 'load' });
      const frame = page.frames().find((f) => f !== page.mainFrame());
      expect(frame).toBeDefined();
      await expect(frame?.locator('header.top').count()).resolves.toBe(0);
      await screenshot(page, 'framed-refused');
    } finally {
      await new Promise((r) => framer.close(r));
    }
  });
  test('the status page shows the version, uptime and what each store holds; the proxy page each upstream and its health', async () => {
    const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    const page = await openPage();
    await page.goto(`${keel.url}/ui/status`);
    await expect(page.locator('dl.facts').innerText()).resolves.toContain(`Keel ${version} on Node ${process.version}`);
    const registryRow = page.locator('table.stores tbody tr').first();
    await expect(registryRow.locator('td').first().innerText()).resolves.toBe('Registry (your images)');
    // The images pushed above hold at least 64 KiB: the figure is the index's total, not zero.
    await expect(registryRow.locator('td.num').innerText()).resolves.toMatch(/^\d+(\.\d)? (KiB|MiB)$/);
    await expect(page.locator('main').innerText()).resolves.toContain('No GC run has completed yet');
    await screenshot(page, 'status');

    await page.goto(`${keel.url}/ui/proxy`);
    await expect(page.locator('nav a.current').innerText()).resolves.toBe('Proxy cache');
    // With no upstream configured, the allowed public registries are listed, Docker Hub first.
    const hub = page.locator('section#upstream-registry-1\\.docker\\.io');
    await expect(hub.locator('h2').innerText()).resolves.toMatch(/^registry-1\.docker\.io upstream allowed$/);
    await expect(hub.locator('dl.facts').innerText()).resolves.toContain('manifests 0 / 0');
    await expect(hub.locator('dd.cached').innerText()).resolves.toBe('nothing yet');
    await expect(hub.locator('td.state').innerText()).resolves.toBe('ok');
    await expect(hub.locator('td.mono').innerText()).resolves.toBe('https://registry-1.docker.io');
    await screenshot(page, 'proxy');
  });
});
