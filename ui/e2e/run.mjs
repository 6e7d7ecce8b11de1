// End-to-end test of the web UI in Debian's Chromium (playwright-core with
// executablePath) against a real `crema serve` serving the built UI (ui/dist).
// Builds nothing: run `cargo build -p crema` and `npm run build` first
// (scripts/ui-test.sh does). Screenshots go to ui/e2e/artifacts/.
//
// Env: CREMA_BIN (default ../target/debug/crema), CHROMIUM (default /usr/bin/chromium).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const ui = resolve(here, '..');
const root = resolve(ui, '..');
const bin = resolve(root, process.env.CREMA_BIN ?? 'target/debug/crema');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const dist = join(ui, 'dist');
const artifacts = join(here, 'artifacts');
const fixture = (n) => join(root, 'fixtures/cache', n);

const results = [];
/** @type {any} */
let currentPage = null;
/** @type {any} */
let currentServer = null;
let failed = 0;
const cleanups = [];

function log(...a) {
  console.log('[e2e]', ...a);
}

const only = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY) : null;

async function step(name, fn) {
  if (only && !only.test(name)) return;
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    results.push({ name, ok: false });
    if (currentPage) await currentPage.screenshot({ path: join(artifacts, 'FAILED.png') }).catch(() => {});
    if (currentServer) log('server log tail:\n' + currentServer.log().slice(-3000));
    log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    throw e;
  }
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

/** Starts `crema serve` on a fresh data dir; returns {base, key, dataDir}. */
async function startServer(name, extra) {
  const dataDir = mkdtempSync(join(tmpdir(), `crema-e2e-${name}-`));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const out = execFileSync(bin, ['keys', 'create', `e2e-${name}`, '--data-dir', dataDir], { encoding: 'utf8' });
  const key = /crema_sk_[0-9a-f]+/.exec(out)?.[0];
  if (!key) throw new Error(`no key in: ${out}`);
  const port = await freePort();
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--ui-dir', dist, ...extra];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let logText = '';
  child.stdout.on('data', (d) => (logText += d));
  child.stderr.on('data', (d) => (logText += d));
  cleanups.push(() => child.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`crema serve exited ${child.exitCode}: ${logText}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { base, key, dataDir, log: () => logText };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`crema serve did not come up: ${logText}`);
}

async function shot(page, name) {
  const path = join(artifacts, `${name}.png`);
  if (!name.includes('playing')) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path, fullPage: false });
  log(`screenshot ${path}`);
}

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function main() {
  expect(existsSync(bin), `${bin} missing: run \`cargo build -p crema\` first`);
  expect(existsSync(join(dist, 'index.html')), `${dist}/index.html missing: run \`npm run build\` first`);
  expect(existsSync(browserPath), `${browserPath} missing: apt-get install chromium`);
  for (const f of ['h264_720p_2s.mp4', 'bigbuckbunny.mp4', 'text.mov']) expect(existsSync(fixture(f)), `fixture ${f} missing: run fixtures/prepare.sh`);
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });

  const server = await startServer('main', ['--workers', '1', '--node-name', 'e2e-main']);
  log('server', server.base);
  const browser = await chromium.launch({
    executablePath: browserPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  cleanups.unshift(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  currentPage = page;
  currentServer = server;
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.setDefaultTimeout(30_000);

  const row = (name) => page.locator('li.job', { hasText: name });

  await step('login page, bad key shows a human message, good key logs in', async () => {
    await page.goto(server.base + '/');
    await page.getByLabel('API key').waitFor();
    await shot(page, '01-login');
    await page.getByLabel('API key').fill('crema_sk_not_a_real_key');
    await page.getByRole('button', { name: 'Log in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = await alert.innerText();
    expect(!text.includes('{') && text.length > 10, `login error not human: ${text}`);
    await page.getByLabel('API key').fill(server.key);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: /^Jobs \(0\)/ }).waitFor();
    await page.locator('input[name=profile][value=sophon-auto]').waitFor();
    await shot(page, '02-empty-queue');
  });

  await step('add two clips through the upload path (progress, facts)', async () => {
    await page.locator('[data-testid=file-input]').setInputFiles([fixture('h264_720p_2s.mp4'), fixture('bigbuckbunny.mp4')]);
    await page.getByRole('button', { name: 'Start 2 videos' }).waitFor({ timeout: 60_000 });
    const facts = await page.locator('.drafts .item').first().innerText();
    expect(/1280×720/.test(facts), `no resolution in the draft: ${facts}`);
    await shot(page, '03-uploaded');
  });

  await step('pick sophon-espresso and an H.264 HLS ladder 360+240, 1 s segments, audio', async () => {
    await page.locator('input[name=profile][value=sophon-espresso]').check();
    await page.getByLabel('HLS ladder').check();
    for (const h of [1080, 720, 480]) await page.locator(`input[name=rendition][value="${h}"]`).uncheck();
    await page.locator('input[name=rendition][value="240"]').check();
    await page.getByLabel('Codec').selectOption('h264');
    await page.getByLabel('Segment length (s)').fill('1');
    await page.getByLabel('Include audio').check();
    const summary = await page.locator('.drafts .opts').first().innerText();
    expect(/Espresso · HLS 360\/240 H\.264 1 s/.test(summary), `draft summary: ${summary}`);
    await shot(page, '04-options');
  });

  await step('start; watch progress reach completion', async () => {
    await page.getByRole('button', { name: 'Start 2 videos' }).click();
    await page.locator('li.job').nth(1).waitFor();
    // Catch a running state for the screenshot (the clips are short: best effort).
    try {
      await page.locator('li.job[data-status=encoding], li.job[data-status=probing]').first().waitFor({ timeout: 15_000 });
      await shot(page, '05-progress');
    } catch {
      log('note: no running state caught for the screenshot');
    }
    await page.locator('li.job[data-status=completed]').nth(1).waitFor({ timeout: 180_000 });
    const text = await row('bigbuckbunny.mp4').innerText();
    expect(/Done/.test(text) && /smaller|larger|same size/.test(text), `done row: ${text}`);
    await shot(page, '06-done');
  });

  await step('play the HLS output in the page past 2 s, switch renditions', async () => {
    await row('bigbuckbunny.mp4').getByRole('button', { name: 'Play' }).click();
    const video = page.locator('[data-testid=player-video]');
    await video.waitFor();
    await page.waitForFunction(() => {
      const v = document.querySelector('video');
      return !!v && v.currentTime > 2;
    }, null, { timeout: 45_000 });
    const levels = await page.locator('.levels button').count();
    expect(levels >= 3, `expected Auto + 2 renditions, got ${levels} buttons`);
    await page.locator('.levels button', { hasText: '240p' }).click();
    await page.waitForFunction(() => {
      const h = /** @type {any} */ (window).__cremaHls;
      return h && h.currentLevel >= 0 && h.levels[h.currentLevel].height === 240;
    }, null, { timeout: 15_000 });
    const t = await page.evaluate(() => document.querySelector('video')?.currentTime ?? 0);
    log(`video.currentTime = ${t.toFixed(2)} s`);
    await shot(page, '07-playing');
    await page.getByRole('button', { name: 'Close the player' }).click();
  });

  await step('a sophon-auto job is verified; a click on its quality opens the VMAF plot with chunks and CRFs', async () => {
    await page.locator('input[name=profile][value=sophon-auto]').check();
    await page.getByLabel('HLS ladder').uncheck();
    await page.locator('[data-testid=file-input]').setInputFiles([fixture('bikes.mp4')]);
    await page.getByRole('button', { name: 'Start 1 video' }).click({ timeout: 60_000 });
    const r = page.locator('li.job', { hasText: 'bikes.mp4' });
    const summary = r.locator('details.quality summary');
    await summary.waitFor({ timeout: 240_000 });
    const line = await summary.innerText();
    expect(/VMAF \d+\.\d.*target 93 (verified|not reached: best effort) in 2 chunks/.test(line), `quality line: ${line}`);
    await summary.click();
    const bars = r.locator('svg.qplot g.chunk');
    await bars.first().waitFor();
    expect((await bars.count()) === 2, `chunks drawn: ${await bars.count()}`);
    const crf = (await r.locator('svg.qplot text.crf').first().textContent()) ?? '';
    expect(/^CRF \d+(\.5)?$/.test(crf), `CRF label: ${crf}`);
    log(`verified: ${line}`);
    await shot(page, '07b-quality-plot');
  });

  // Since issue 9 a source that is not media is refused at POST /v1/jobs
  // (422 source_invalid) instead of queued to fail later; retries of failed
  // jobs are covered by the service's and server's tests.
  await step('a non-media upload is refused at submission with a human message; nothing is queued', async () => {
    await page.locator('input[name=profile][value=sophon-espresso]').check();
    const jobsBefore = await page.locator('li.job').count();
    await page.locator('[data-testid=file-input]').setInputFiles([fixture('text.mov')]);
    await page.getByRole('button', { name: 'Start 1 video' }).click({ timeout: 60_000 });
    const toast = page.locator('.toast.error', { hasText: 'text.mov' });
    await toast.waitFor({ timeout: 30_000 });
    const err = await toast.innerText();
    expect(err.length > 12 && !err.includes('{') && !err.includes('/tmp/'), `error text: ${err}`);
    log(`refusal shown: ${err}`);
    await shot(page, '09-refused');
    expect((await page.locator('li.job').count()) === jobsBefore, 'no job was queued');
    await page.getByRole('button', { name: 'Remove text.mov' }).click();
    await page.getByRole('button', { name: 'Remove text.mov' }).waitFor({ state: 'detached', timeout: 10_000 });
  });

  await step('cancel a slow sophon-americano job', async () => {
    await page.locator('input[name=profile][value=sophon-americano]').check();
    await page.getByLabel('HLS ladder').uncheck();
    await page.locator('[data-testid=file-input]').setInputFiles([fixture('bigbuckbunny.mp4')]);
    await page.getByRole('button', { name: 'Start 1 video' }).click({ timeout: 60_000 });
    const r = page.locator('li.job:not([data-status=completed])', { hasText: 'bigbuckbunny.mp4' });
    await r.waitFor();
    await page.locator('li.job[data-status=encoding], li.job[data-status=probing]').first().waitFor({ timeout: 30_000 }).catch(() => {});
    await r.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('li.job[data-status=canceled]').waitFor({ timeout: 30_000 });
    await shot(page, '08-canceled');
  });

  await step('remove a finished job with the keyboard (select + Delete)', async () => {
    const before = await page.locator('li.job').count();
    await page.locator('li.job[data-status=canceled] input[type=checkbox]').focus();
    await page.keyboard.press('Space');
    await page.keyboard.press('Delete');
    await page.waitForFunction((n) => document.querySelectorAll('li.job').length === n - 1, before);
  });

  await step('Settings lists this server as an online node of the queue', async () => {
    await page.getByRole('button', { name: 'Settings' }).click();
    const node = page.locator('li.node', { hasText: 'e2e-main' });
    await node.waitFor({ timeout: 10_000 });
    const text = await node.innerText();
    expect(/this server/.test(text) && /online/.test(text) && /of 1 slot busy/.test(text), `node row: ${text}`);
    expect(/libx265/.test(text), `encoders listed: ${text}`);
    await shot(page, '10-nodes');
    await page.getByRole('button', { name: 'Close', exact: true }).click();
  });

  await step('dark theme and 200% zoom (narrow layout) render', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot(page, '11-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    const zoom = await browser.newContext({ viewport: { width: 683, height: 450 }, deviceScaleFactor: 2, storageState: await context.storageState() });
    const zp = await zoom.newPage();
    await zp.goto(server.base + '/');
    await zp.getByRole('heading', { name: /^Jobs/ }).waitFor();
    const overflow = await zp.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow <= 1, `horizontal overflow at 200% zoom: ${overflow}px`);
    await zp.screenshot({ path: join(artifacts, '12-zoom200.png') });
    await zoom.close();
  });

  // 500 jobs: a second server that runs nothing (--workers 0), 500 POSTs with path sources.
  let renderMs = NaN;
  // The behaviour asserted: all 500 rows arrive and no render step hangs the
  // page (1 s bound). The speed (target: under 100 ms per step) is printed as
  // a figure, not asserted: it moves with the machine's load.
  await step('500 jobs: the list renders in chunks, every row in the page, no step hangs', async () => {
    const big = await startServer('500', ['--workers', '0', '--source-root', join(root, 'fixtures/cache')]);
    const headers = { Authorization: `Bearer ${big.key}`, 'Content-Type': 'application/json' };
    const post = async (i) => {
      const r = await fetch(`${big.base}/v1/jobs`, {
        method: 'POST',
        headers: { ...headers, 'Idempotency-Key': `e2e-500-${i}` },
        body: JSON.stringify({ source: { type: 'path', path: fixture('h264_720p_2s.mp4') }, profile: 'sophon-espresso' }),
      });
      if (r.status !== 201) throw new Error(`POST /v1/jobs: ${r.status} ${await r.text()}`);
    };
    for (let i = 0; i < 500; i += 25) await Promise.all(Array.from({ length: 25 }, (_, k) => post(i + k)));
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const p = await ctx.newPage();
    await p.goto(big.base + '/');
    await p.getByLabel('API key').fill(big.key);
    await p.getByRole('button', { name: 'Log in' }).click();
    // First render (the first rows), then every later step while the rest is added; all 500 rows end up in the page.
    const measure = async () => {
      await p.waitForFunction(() => /** @type {any} */ (window).__crema?.renderMs != null, null, { timeout: 30_000 });
      await p.waitForFunction(() => document.querySelectorAll('li.job').length === 500, null, { timeout: 30_000 });
      return p.evaluate(() => /** @type {any} */ (window).__crema);
    };
    const runs = [await measure()];
    // Two reloads (already logged in): the figure an editor sees on every visit.
    for (let k = 0; k < 2; k++) {
      await p.reload();
      runs.push(await measure());
    }
    const times = runs.map((r) => r.renderMs);
    const steps = runs.map((r) => r.chunkMaxMs);
    renderMs = [...times].sort((a, b) => a - b)[1];
    const stepMs = [...steps].sort((a, b) => a - b)[1];
    log(`500-job list: first render ${times.map((t) => t.toFixed(1)).join(' / ')} ms, longest later step ${steps.map((t) => t.toFixed(1)).join(' / ')} ms (first after login / reload / reload); medians ${renderMs.toFixed(1)} / ${stepMs.toFixed(1)} ms; 500 rows in the page`);
    await p.screenshot({ path: join(artifacts, '13-500-jobs.png') });
    await ctx.close();
    expect(stepMs < 1000, `median longest render step ${stepMs.toFixed(1)} ms (hang bound 1000 ms; target 100 ms)`);
    expect(renderMs < 1000, `median render ${renderMs.toFixed(1)} ms (hang bound 1000 ms; target 100 ms)`);
    log(`500-job list against the 100 ms target: first render ${(renderMs / 100).toFixed(2)}x, longest step ${(stepMs / 100).toFixed(2)}x`);
  });

  const relevant = consoleErrors.filter((e) => !/thumbnail|404|Notification/i.test(e));
  if (relevant.length) log('console errors:', relevant);
  return renderMs;
}

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  // A failed step has logged its own error; anything else (the browser not
  // starting, the app not building) would otherwise leave only "0 failed".
  if (!failed) console.error(`e2e: stopped before any step failed: ${e && e.stack ? e.stack : e}`);
} finally {
  for (const c of cleanups) {
    try {
      await c();
    } catch {
      // best effort
    }
  }
}
const passed = results.filter((r) => r.ok).length;
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(code);
