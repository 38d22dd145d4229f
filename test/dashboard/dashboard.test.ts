import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../cli-helpers.js';
import { writeSmallMnist } from '../cli/fixtures.js';
import { type Proc, expectExit, startCoordinator, startHost } from '../cluster-helpers.js';
import { chromiumUnavailable, launchChromium } from './browser.js';

// A small data set (64 steps an epoch) so the run validates every few seconds: 400 steps, 7 epochs
// (the last one partial), each with a validation point.
const STEPS = 400;
const RUN = ['--model', 'lenet5', '--epochs', '20', '--max-steps', String(STEPS), '--seed', '3'];

/** The page's colours (static/dashboard.js COLORS) as RGB. */
const SMOOTHED = [0x1f, 0x6f, 0xeb];
const VALIDATION = [0xe8, 0x59, 0x0c];

const unavailable = chromiumUnavailable();
if (unavailable) console.warn(`skipping the dashboard test: ${unavailable}`);

/** Pixels of a PNG within `tolerance` of `rgb` on every channel. */
function pixelsNear(png: PNG, rgb: number[], tolerance = 24): number {
  let n = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    if (Math.abs(png.data[i] - rgb[0]) <= tolerance && Math.abs(png.data[i + 1] - rgb[1]) <= tolerance && Math.abs(png.data[i + 2] - rgb[2]) <= tolerance) n++;
  }
  return n;
}

/** Pixels that are not the chart's white background. */
function inkPixels(png: PNG): number {
  let n = 0;
  for (let i = 0; i < png.data.length; i += 4) if (png.data[i] < 250 || png.data[i + 1] < 250 || png.data[i + 2] < 250) n++;
  return n;
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).textContent()) ?? '';
}

describe.skipIf(unavailable !== null)('the coordinator dashboard in Chromium', () => {
  const started: Proc[] = [];
  let browser: BrowserContext | undefined;
  afterAll(async () => {
    for (const p of started) p.child.kill('SIGKILL');
    await browser?.close();
  });

  it('shows hosts, events, live steps and drawn curves, all from the coordinator', async () => {
    const root = tempDir('dashboard');
    const data = await writeSmallMnist(join(root, 'data'), 2048, 512);
    // --min-hosts 1: the run waits for the remote host, so the page is open before the first step.
    const coordinator = await startCoordinator([...RUN, '--dataset', data, '--local-threads', '1', '--min-hosts', '1', '--out', join(root, 'run')]);
    started.push(coordinator);
    const origin = coordinator.url.replace(/^ws/, 'http');

    browser = await launchChromium();
    const page = await browser.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    let navigations = 0;
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => void (m.type() === 'error' && problems.push(`console: ${m.text()}`)));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('framenavigated', (f) => void (f === page.mainFrame() && navigations++));
    // Every value the step counter and the state badge show, as the page changes them in place.
    await page.addInitScript(() => {
      const seen: Record<string, string[]> = { step: [], state: [] };
      (window as unknown as { seen: typeof seen }).seen = seen;
      document.addEventListener('DOMContentLoaded', () => {
        for (const id of Object.keys(seen)) {
          const el = document.getElementById(id)!;
          const record = () => {
            const v = el.textContent ?? '';
            if (seen[id][seen[id].length - 1] !== v) seen[id].push(v);
          };
          new MutationObserver(record).observe(el, { childList: true, characterData: true, subtree: true });
        }
      });
    });
    await page.goto(`${origin}/`);

    // Before any remote host: the coordinator's own threads are a host.
    await page.waitForSelector('#conn[data-conn="live"]');
    await page.waitForSelector('#hosts tbody tr[data-host="local"]');
    expect(await page.locator('#hosts tbody tr').count()).toBe(1);
    expect(await text(page, '#state')).toBe('starting');

    const host = startHost(coordinator.url, ['--threads', '1']);
    started.push(host);
    await page.waitForSelector('#events li[data-kind="joined"][data-host^="host-"]', { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('#hosts tbody tr').length === 2);
    const rows = await page.locator('#hosts tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    expect(rows.map((r) => r[0])).toEqual(['local', expect.stringMatching(/^host-\d+$/)]);
    for (const r of rows) {
      expect(r[3]).toBe('1'); // threads
      expect(r[4]).toBe('live');
    }
    await page.waitForSelector('#hosts td[data-heartbeat]:text-matches("s ago")');

    // A peer that breaks the protocol (a text frame) is refused, and the page lists the refusal.
    const closeCode = await page.evaluate((url) => new Promise<number>((resolve) => {
      const ws = new WebSocket(url);
      ws.onopen = () => ws.send('not a protocol frame');
      ws.onclose = (e) => resolve(e.code);
    }), coordinator.url);
    expect(closeCode).toBeGreaterThanOrEqual(4000);
    await page.waitForSelector('#events li[data-kind="rejected"] .detail:text-matches("CNN_PROTO_MALFORMED")');

    // The run ends: the page gets the final state and stops reconnecting.
    await expectExit(coordinator, 0);
    await expectExit(host, 0);
    await page.waitForSelector('#conn[data-conn="ended"]', { timeout: 10_000 });
    expect(await text(page, '#state')).toBe('finished');
    expect(await text(page, '#step')).toBe(String(STEPS));

    // The step counter moved up and the state went through the run, in place, without a reload.
    const seen = await page.evaluate(() => (window as unknown as { seen: Record<string, string[]> }).seen);
    const steps = seen.step.map(Number);
    expect(steps.length, `steps shown: ${steps.join(', ')}`).toBeGreaterThanOrEqual(3);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    expect(seen.state).toEqual(['starting', 'training', 'finished']);
    expect(navigations).toBe(1);

    // Every step is a point (400 < the 2048 kept); 7 epochs ended, each with a validation point.
    const loss = page.locator('#loss-chart');
    expect(await loss.getAttribute('data-train-points')).toBe(String(STEPS));
    expect(Number(await loss.getAttribute('data-val-points'))).toBe(7);

    // The curves are on the canvases: the smoothed train line and the validation dots in their colours.
    await page.screenshot({ path: join(root, 'dashboard.png'), fullPage: true });
    for (const id of ['#loss-chart', '#acc-chart']) {
      const png = PNG.sync.read(await page.locator(id).screenshot());
      writeFileSync(join(root, `${id.slice(1)}.png`), PNG.sync.write(png));
      const where = `${id} (screenshots in ${root})`;
      expect(inkPixels(png), where).toBeGreaterThan(0.02 * png.width * png.height);
      expect(pixelsNear(png, SMOOTHED), where).toBeGreaterThan(png.width / 2);
      expect(pixelsNear(png, VALIDATION), where).toBeGreaterThan(7 * 20);
    }

    // Nothing came from anywhere but the coordinator, and nothing failed or was blocked by the CSP.
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((u) => new URL(u).host !== new URL(origin).host)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('of a run with a token, shows the run to the link that carries it and tells a bare visit what it needs', async () => {
    const root = tempDir('dashboard-token');
    const data = await writeSmallMnist(join(root, 'data'), 512, 128);
    // --min-hosts 1 and no host: the run waits, so both visits find it there.
    const coordinator = await startCoordinator([...RUN, '--dataset', data, '--local-threads', '1', '--min-hosts', '1', '--token', 'dash-token', '--out', join(root, 'run')]);
    started.push(coordinator);
    const origin = coordinator.url.replace(/^ws/, 'http');
    browser ??= await launchChromium();

    const bare = await browser.newPage();
    await bare.goto(`${origin}/`);
    await bare.waitForSelector('#conn[data-conn="ended"]');
    expect(await text(bare, '#conn')).toMatch(/this run needs its token: open the link cnn-coordinator start printed/);
    expect(await bare.locator('#hosts tbody tr').count()).toBe(0);

    const linked = await browser.newPage();
    await linked.goto(`${origin}/?token=dash-token`);
    await linked.waitForSelector('#conn[data-conn="live"]');
    await linked.waitForSelector('#hosts tbody tr[data-host="local"]');
    coordinator.child.kill('SIGKILL');
  });
});
