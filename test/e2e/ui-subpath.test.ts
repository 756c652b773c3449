// The web UI behind a reverse proxy under a sub-path: Debian's nginx with
// `location /registry/ { proxy_pass http://keel/; }` (which strips the prefix) and Keel with
// `[ui] path_prefix = "/registry"`. The browser only ever talks to nginx: from
// http://nginx/registry/ it follows links to a tag page, and the stylesheet loads there.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { startBrowser, screenshot, type TestBrowser } from '../support/browser.js';
import { createSkopeo, type Skopeo } from '../support/e2e/skopeo.js';
import { OciLayout } from '../support/e2e/images.js';
import { ensureTools } from '../support/e2e/tools.js';
import { startKeel, type KeelProcess } from '../support/keel-server.js';
import { startNginx, type Nginx } from '../support/nginx.js';

const REPO = 'e2e/ui/behind-proxy';

jest.setTimeout(180_000);

let keel: KeelProcess;
let nginx: Nginx;
let skopeo: Skopeo;
let layout: OciLayout;
let browser: TestBrowser;

beforeAll(async () => {
  await ensureTools(['skopeo', 'nginx', 'chromium']);
  keel = await startKeel({ toml: '[ui]\npath_prefix = "/registry"\n' });
  nginx = await startNginx([keel.host], { pathPrefix: '/registry' });
  skopeo = await createSkopeo();
  layout = await OciLayout.create();
  await layout.addImage({ tag: 'v1', layers: 1, layerSize: 8 * 1024 });
  await skopeo.copy(layout.ref('v1'), `docker://${keel.host}/${REPO}:v1`, { preserveDigests: true });
  browser = await startBrowser();
});

afterAll(async () => {
  await browser?.close();
  await nginx?.stop();
  await skopeo?.remove();
  await layout?.remove();
  await keel?.destroy();
});

describe('web UI under a sub-path behind nginx', () => {
  test('from /registry/ the links lead to a tag page, and its stylesheet loads through the proxy', async () => {
    const { page } = await browser.newPage();
    const res = await page.goto(`${nginx.url}/registry/`);
    expect(res?.status()).toBe(200);
    await expect(page.locator('link[rel=stylesheet]').getAttribute('href')).resolves.toBe('/registry/ui/static/keel.css');
    await page.locator('td.name', { hasText: REPO }).locator('a').last().click();
    expect(page.url()).toBe(`${nginx.url}/registry/ui/repositories/${REPO}`);
    await page.locator('table.tags td:first-child a', { hasText: 'v1' }).click();
    expect(page.url()).toBe(`${nginx.url}/registry/ui/repositories/${REPO}/-/tags/v1`);
    await expect(page.locator('h1 .tag-name').textContent()).resolves.toBe('v1');
    // keel.css lays the header out as a flex row with a bottom border; unstyled it is a block.
    await expect(page.locator('header.top').evaluate((e) => getComputedStyle(e).display)).resolves.toBe('flex');
    await expect(page.locator('header.top').evaluate((e) => getComputedStyle(e).borderBottomStyle)).resolves.toBe('solid');
    // The pull command names the host the browser used, without the UI's sub-path.
    await expect(page.locator('#pull-docker').textContent()).resolves.toBe(`docker pull ${nginx.host}/${REPO}:v1`);
    await screenshot(page, 'subpath-tag');
    const requested = (await nginx.accessLog()).map((r) => r.uri);
    expect(requested).toEqual(expect.arrayContaining(['/registry/', '/registry/ui/static/keel.css', '/registry/ui/static/copy.js']));
  });
});
