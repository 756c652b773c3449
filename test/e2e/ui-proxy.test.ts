// The web UI on the proxy cache, in Debian's chromium, in front of a real upstream (Debian's
// docker-registry on loopback): an image pulled through Keel shows on the cache's tab, its
// repository page lists the cached tag, its image page the layers and config, with the pull
// command through the cache and no delete; the proxy page says what the cache holds. Looking
// never makes Keel ask the upstream: a tag it has but the cache does not is a 404 here, and the
// upstream's log shows no request for it.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { startBrowser, screenshot, type TestBrowser } from '../support/browser.js';
import { countRequests } from '../support/e2e/access-log.js';
import { startDistribution, type Distribution } from '../support/e2e/distribution.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { Client, OCI_MANIFEST } from '../support/oci-client.js';

jest.setTimeout(180_000);

let upstream: Distribution;
let keel: KeelProcess;
let browser: TestBrowser;
let image: Awaited<ReturnType<Client['pushImage']>>;
const NAME = 'proxy/up/team/app';

beforeAll(async () => {
  await ensureTools(['docker-registry', 'chromium']);
  upstream = await startDistribution();
  const up = new Client(upstream.url);
  image = await up.pushImage('team/app', 'v1', { layers: 2, layerSize: 8192 });
  await up.pushImage('team/app', 'v2', { layers: 1, layerSize: 1024 });
  keel = await startKeel({ toml: `[proxy.upstreams.up]\nurl = "${upstream.url}"\nallow_private = true\n` });
  // A client pulls v1 through the cache: the manifest, then each blob.
  expect((await fetch(`${keel.url}/v2/${NAME}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
  for (const b of image.blobs) {
    const res = await fetch(`${keel.url}/v2/${NAME}/blobs/${b.digest}`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }
  browser = await startBrowser();
});

afterAll(async () => {
  await browser?.close();
  await keel?.destroy();
  await upstream?.stop();
});

describe('web UI on the proxy cache', () => {
  test('the cached image is on the cache tab, its repository lists the cached tag, its page the layers and config; no delete', async () => {
    const { page } = await browser.newPage();
    await page.goto(`${keel.url}/?store=proxy`);
    await expect(page.locator('table.repositories td.name').allInnerTexts()).resolves.toEqual(['up/team/app']);
    await page.locator('td.name a').last().click();
    expect(page.url()).toBe(`${keel.url}/ui/repositories/${NAME}`);
    await expect(page.locator('table.tags td:first-child a').allTextContents()).resolves.toEqual(['v1']);
    await screenshot(page, 'proxy-repository');
    await page.locator('table.tags td:first-child a').click();
    await expect(page.locator('table.layers tbody tr').count()).resolves.toBe(2);
    await expect(page.locator('dl.facts.config').innerText()).resolves.toContain('linux/amd64');
    await expect(page.locator('.pull code').first().innerText()).resolves.toBe(`docker pull ${keel.host}/${NAME}:v1`);
    await expect(page.locator('p.actions').count()).resolves.toBe(0);
    await screenshot(page, 'proxy-image');
  });

  test('a tag the cache does not hold is a 404, and looking asks the upstream nothing', async () => {
    const before = await countRequests(upstream, 'GET', '/v2/team/app/manifests/v2');
    const heads = await countRequests(upstream, 'HEAD', '/v2/team/app/manifests/');
    const { page } = await browser.newPage();
    expect((await page.goto(`${keel.url}/ui/repositories/${NAME}/-/tags/v2`))?.status()).toBe(404);
    expect((await page.goto(`${keel.url}/ui/repositories/${NAME}/-/tags/v1`))?.status()).toBe(200);
    expect((await page.goto(`${keel.url}/ui/repositories/proxy/nowhere.example/x`))?.status()).toBe(404);
    expect(await countRequests(upstream, 'GET', '/v2/team/app/manifests/v2')).toBe(before);
    expect(await countRequests(upstream, 'HEAD', '/v2/team/app/manifests/')).toBe(heads);
  });

  test('the proxy page says what the cache holds of the upstream', async () => {
    const { page } = await browser.newPage();
    await page.goto(`${keel.url}/ui/proxy`);
    const bytes = image.blobs.reduce((n, b) => n + b.size, 0);
    const text = await page.locator('section#upstream-up dd.cached').innerText();
    expect(text).toMatch(new RegExp(`^1 manifests in 1 repositories, 3 blobs, ${(bytes / 1024).toFixed(1).replace('.', '\\.')} KiB$`));
    await expect(page.locator('section#upstream-up dl.facts').innerText()).resolves.toContain('blobs 0 / 3');
  });
});
