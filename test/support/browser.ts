// Debian's chromium, headless, driven by playwright-core (which downloads no browser), for the
// web UI's tests. Started by the test file and closed by it: the browser server is our child,
// its PID is recorded for jest's global teardown (stale-daemons.ts) in case the file dies
// first, and close() kills it by that PID if playwright's own close did not end it.
//
// Layout under the temp dir:
//   cache/    --disk-cache-dir, which also puts the dir on the browser's command line (the marker)
//   .keel-s3  marker: global teardown removes dirs that carry it
//
// Screenshots go to test-output/screenshots/<name>.png (gitignored), written on every run so a
// reviewer can look at the pages.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type BrowserServer, type Page } from 'playwright-core';
import { processRunning } from './e2e/processes.js';
import { makeTempDir } from './e2e/temp-dir.js';
import { ensureTools, toolPath } from './e2e/tools.js';
import { forgetDaemons, recordDaemons } from './stale-daemons.js';

export const SCREENSHOTS = resolve('test-output', 'screenshots');

export interface TestBrowser {
  browser: Browser;
  /** A fresh context (cookies, permissions) with a page in it; closed with the browser. */
  newPage(options?: { clipboardFor?: string }): Promise<{ context: BrowserContext; page: Page }>;
  close(): Promise<void>;
}

export async function startBrowser(): Promise<TestBrowser> {
  await ensureTools(['chromium']);
  const tmp = await makeTempDir('chromium');
  const dir = tmp.path;
  let server: BrowserServer | undefined;
  try {
    await writeFile(join(dir, '.keel-s3'), '');
    server = await chromium.launchServer({
      executablePath: toolPath('chromium'),
      headless: true,
      // As root (the test machines) chromium refuses to start without it.
      args: ['--no-sandbox', `--disk-cache-dir=${join(dir, 'cache')}`],
    });
    const pid = server.process().pid;
    if (pid === undefined) throw new Error('chromium started without a PID');
    await recordDaemons(dir, dir, [pid]);
    const browser = await chromium.connect(server.wsEndpoint());
    const running = server;
    let closing: Promise<void> | undefined;
    return {
      browser,
      async newPage(options = {}) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        if (options.clipboardFor) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: options.clipboardFor });
        return { context, page: await context.newPage() };
      },
      close() {
        closing ??= (async () => {
          await browser.close().catch(() => undefined);
          await running.close();
          if (await processRunning(pid)) process.kill(pid, 'SIGKILL');
          await forgetDaemons(dir);
          await tmp.remove();
        })();
        return closing;
      },
    };
  } catch (e) {
    await server?.close().catch(() => undefined);
    await forgetDaemons(dir);
    await tmp.remove();
    throw e;
  }
}

/** A full-page screenshot at test-output/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
