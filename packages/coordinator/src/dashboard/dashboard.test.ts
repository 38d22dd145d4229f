import { execFileSync } from 'node:child_process';
import { type Server, createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../status.js';
import { Dashboard, type DashboardOptions } from './dashboard.js';
import type { LiveUpdate } from './live-stream.js';
import { RunMetrics } from './metrics.js';

interface Fixture {
  base: string;
  dashboard: Dashboard;
  metrics: RunMetrics;
  status: StatusSnapshot;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

function snapshot(): StatusSnapshot {
  return {
    state: 'training', uptimeSeconds: 1, step: 0, epoch: 1, epochs: 1, stepsPerEpoch: 10,
    settings: { model: 'lenet5', dataset: 'mnist', epochs: 1, batchSize: 32, microBatchSize: 8, optimizer: 'adam', seed: 1 },
    imagesPerSecond: null, communicationShare: null, last: { loss: null, accuracy: null },
    history: [{ epoch: 1, logs: { loss: 1 } }],
    hosts: [{ id: 'local', name: 'local', address: 'in-process', threads: 1, alive: true, steps: 0, imagesPerSecond: null, lastComputeMs: null, lastRoundTripMs: null, lastHeartbeat: null }],
    events: [{ time: new Date(0).toISOString(), kind: 'joined', host: 'local', detail: 'local (in-process) with 1 thread(s)' }],
  };
}

/** A plain HTTP server that routes to the dashboard, as the coordinator's server does. */
async function serve(options: Partial<DashboardOptions> = {}): Promise<Fixture> {
  const metrics = new RunMetrics();
  const status = snapshot();
  const dashboard = new Dashboard({ status: () => status, metrics, ...options });
  const server = createServer((req, res) => {
    if (dashboard.handle(req, res)) return;
    res.writeHead(404);
    res.end();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, dashboard, metrics, status };
}

interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads GET /events; `events` fills as messages arrive. */
async function listen(base: string): Promise<{ status: number; events: SseEvent[]; ended: Promise<void>; stop: () => void }> {
  const controller = new AbortController();
  const res = await fetch(`${base}/events`, { signal: controller.signal });
  const events: SseEvent[] = [];
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // Aborted by stop(), or the server closed: either way the stream is over.
    }
  })();
  return { status: res.status, events, ended, stop: () => controller.abort() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(probe: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('Dashboard: the page', () => {
  it('serves the page under a CSP that allows only its own origin, and its files', async () => {
    const { base } = await serve();
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    for (const file of ['/dashboard.js', '/dashboard.css', '/favicon.svg']) {
      expect(html).toContain(`"${file}"`);
      const r = await fetch(`${base}${file}`);
      expect(r.status, file).toBe(200);
      expect((await r.arrayBuffer()).byteLength, file).toBeGreaterThan(0);
    }
    expect((await fetch(`${base}/chart.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    // Nothing the page loads names another host.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  // The page's scripts are served as written, so no build checks them: this does.
  it('its scripts type-check against the DOM (static/tsconfig.json)', () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const project = new URL('./static/tsconfig.json', import.meta.url).pathname;
    try {
      execFileSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      throw new Error(`tsc -p ${project} found errors:\n${(e as { stdout?: string }).stdout ?? (e as Error).message}`);
    }
  }, 60_000);

  it('answers HEAD without a body and leaves other paths and methods to the server', async () => {
    const { base } = await serve();
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${base}/status`)).status).toBe(404);
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${base}/events`, { method: 'HEAD' })).status).toBe(404);
  });
});

describe('Dashboard: /events', () => {
  it('sends everything at once, then only the new points', async () => {
    const { base, metrics, dashboard } = await serve({ pushIntervalMs: 20 });
    metrics.recordStep(1, 2.5, 0.1);
    const stream = await listen(base);
    expect(stream.status).toBe(200);
    await until(() => stream.events.length >= 1, 'the first update');
    const first = stream.events[0].data as LiveUpdate;
    expect(first.metrics.steps).toMatchObject({ reset: true, points: [[1, 2.5, 0.1]] });
    expect(first.events).toHaveLength(1);
    expect(first.status).not.toHaveProperty('history');
    expect(first.status).not.toHaveProperty('events');
    expect(dashboard.clients).toBe(1);

    metrics.recordStep(2, 2.0, 0.2);
    await until(() => stream.events.length >= 2, 'the second update');
    const second = stream.events[1].data as LiveUpdate;
    expect(second.metrics.steps).toMatchObject({ reset: false, points: [[2, 2, 0.2]] });
    // The events did not change: they are not sent again.
    expect(second.events).toBeUndefined();
    stream.stop();
    await until(() => dashboard.clients === 0, 'the client to go');
  });

  it('pushes at most 4 times a second however fast steps come', async () => {
    const { base, metrics } = await serve();
    const stream = await listen(base);
    const started = Date.now();
    for (let step = 1; Date.now() - started < 1000; step++) {
      metrics.recordStep(step, 1, 0.5);
      await sleep(2);
    }
    await sleep(50);
    // The first answer plus one push per 250 ms.
    expect(stream.events.length).toBeGreaterThanOrEqual(3);
    expect(stream.events.length).toBeLessThanOrEqual(6);
    const sent = stream.events.map((e) => (e.data as LiveUpdate).serverTime);
    for (let i = 1; i < sent.length; i++) expect(sent[i] - sent[i - 1]).toBeGreaterThanOrEqual(245);
    const points = stream.events.flatMap((e) => (e.data as LiveUpdate).metrics.steps.points);
    // No point lost or sent twice across the pushes.
    expect(points.map((p) => p[0])).toEqual(points.map((_, i) => i + 1));
    stream.stop();
  });

  it('stays quiet while nothing changes but for the idle refresh', async () => {
    const { base } = await serve({ pushIntervalMs: 20, idlePushMs: 300 });
    const stream = await listen(base);
    await until(() => stream.events.length >= 3, 'two idle refreshes');
    stream.stop();
    // Ticks come every 20 ms, but with nothing new a push waits for the idle interval (late timers only widen the gaps).
    const sent = stream.events.map((e) => (e.data as LiveUpdate).serverTime);
    for (let i = 1; i < sent.length; i++) expect(sent[i] - sent[i - 1]).toBeGreaterThanOrEqual(300);
  });

  it('on close sends the final state and `end`, ends the streams and refuses new ones', async () => {
    const { base, dashboard, status } = await serve();
    const stream = await listen(base);
    await until(() => stream.events.length >= 1, 'the first update');
    status.state = 'finished';
    dashboard.close('the run finished');
    await stream.ended;
    const [update, end] = stream.events.slice(-2);
    expect((update.data as LiveUpdate).status.state).toBe('finished');
    expect(end).toMatchObject({ event: 'end', data: { reason: 'the run finished' } });
    expect((await fetch(`${base}/events`)).status).toBe(503);
  });

  it('validates its options', () => {
    expect(() => new Dashboard({ status: snapshot, metrics: new RunMetrics(), pushIntervalMs: 0 })).toThrow('options.pushIntervalMs must be a positive integer, got 0');
    expect(() => new Dashboard({ status: snapshot, metrics: new RunMetrics(), maxClients: 1.5 })).toThrow('options.maxClients must be a positive integer, got 1.5');
  });

  it('refuses streams beyond maxClients', async () => {
    const { base } = await serve({ maxClients: 1 });
    const one = await listen(base);
    const two = await fetch(`${base}/events`);
    expect(two.status).toBe(503);
    expect(await two.text()).toMatch(/at most 1 dashboards at once/);
    one.stop();
  });
});
