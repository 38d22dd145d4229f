import { createRequire } from 'node:module';
import { type Socket, connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCnn, tempDir, weightsOf } from '../cli-helpers.js';
import { type Proc, expectExit, lastStep, startCoordinator, startHost, waitForStep } from '../cluster-helpers.js';
import { rss } from '../reliability-helpers.js';

/*
 * A flood against a training coordinator: 1,000 WebSocket connections that never say hello, 100 TCP
 * connections that never finish their HTTP upgrade request, 100 slow senders that start a 1 MB frame
 * before the handshake and trickle it (1 KB / 100 ms), and 100 that write 1 MB of such a frame at once
 * and hold it incomplete. Training must go on through it, every flooding
 * connection must be closed by the coordinator (handshake timeout, 10 s; a slow sender once it passed
 * the 16 KB pre-handshake cap), and the coordinator's resident memory must stay within a stated bound.
 * The run is then stopped (Ctrl-C) and its weights compared with `cnn train --threads 1` for as many steps.
 */

const FLOOD = { websockets: 1000, halfOpenHttp: 100, slowSenders: 100, burstSenders: 100 };
/**
 * Stated bound on the coordinator's RSS growth during the flood: measured 25-45 MB (about 25 KB a
 * connection); without the 16 KB pre-handshake cap the same flood took +141 MB (the 100 held 1 MB
 * frames), so the bound tells the two apart. See docs/RELIABILITY.md.
 */
const RSS_BOUND_MB = 80;
const SETTINGS = ['--model', 'lenet5', '--batch-size', '64', '--seed', '21', '--epochs', '100'];
const PATIENCE_MS = 60_000;

// ws as the coordinator package resolves it: the test package does not depend on ws itself.
const requireFromCoordinator = createRequire(createRequire(import.meta.url).resolve('@cnn/coordinator'));
const { WebSocket } = requireFromCoordinator('ws') as {
  WebSocket: new (url: string, options: object) => {
    on(event: string, listener: (...args: never[]) => void): void;
    terminate(): void;
  };
};

const processes: Proc[] = [];
const sockets: { terminate?: () => void; destroy?: () => void }[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) (s.terminate ?? s.destroy)?.call(s);
  for (const p of processes.splice(0)) p.child.kill('SIGKILL');
});

/** A WebSocket that completes the upgrade and then says nothing; resolves to its close code. */
function silentWebSocket(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    sockets.push(ws);
    ws.on('close', ((code: number) => resolve(code)) as never);
    ws.on('error', (() => {}) as never);
  });
}

/** A TCP connection that sends half an HTTP upgrade request and stops. */
function halfOpenHttp(port: number): Socket {
  const s = connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'));
  s.on('error', () => {});
  // Read what comes (a 408), so that the server closing the connection is seen.
  s.resume();
  sockets.push(s);
  return s;
}

/**
 * Upgrades by hand, then starts one masked binary frame announcing 1.5 MB (below maxPayload, 1.98 MB
 * for lenet5 at batch 64, so ws would buffer it) and sends `chunk` bytes of it every 100 ms, never
 * completing it (at most 1 MB). Resolves to the bytes it got to send before it was cut.
 */
function partialFrameSender(port: number, chunk: number): Promise<number> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    sockets.push(s);
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(timer);
      resolve(sent);
    });
    s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    let upgraded = false;
    s.on('data', (d) => {
      if (upgraded || !d.toString('latin1').startsWith('HTTP/1.1 101')) return;
      upgraded = true;
      const header = Buffer.alloc(14);
      header[0] = 0x82;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(3n << 19n, 2);
      s.write(header);
      const send = () => {
        if (s.destroyed || sent >= 1 << 20) return;
        s.write(Buffer.alloc(chunk, 0x5a));
        sent += chunk;
      };
      send();
      timer = setInterval(send, 100);
    });
  });
}

describe('limits: a connection flood and slow senders', () => {
  it('train on, are all closed by the coordinator, and keep its memory within the bound', async () => {
    const root = tempDir('flood');
    const out = join(root, 'run');
    const c = await startCoordinator([...SETTINGS, '--max-steps', '100000', '--local-threads', '0', '--min-hosts', '2', '--out', out, '--no-report', '--log-level', 'info']);
    processes.push(c);
    const port = Number(/:(\d+)$/.exec(c.url)![1]);
    const pid = c.child.pid!;
    processes.push(...[0, 1].map(() => startHost(c.url, ['--threads', '1', '--log-level', 'warn'])));
    await waitForStep(out, 50, c);

    // Baseline: the coordinator training, before the flood.
    const samples: { at: number; rss: number }[] = [];
    const sampler = setInterval(() => {
      const r = rss(pid);
      if (r !== null) samples.push({ at: Date.now(), rss: r });
    }, 100);
    await new Promise((r) => setTimeout(r, 2000));
    const floodAt = Date.now();
    const stepAtFlood = lastStep(out);

    const closes: Promise<number>[] = [];
    for (let i = 0; i < FLOOD.websockets; i++) {
      closes.push(silentWebSocket(c.url));
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 10));
    }
    const halfOpen = Array.from({ length: FLOOD.halfOpenHttp }, () => halfOpenHttp(port));
    const slow = Array.from({ length: FLOOD.slowSenders }, () => partialFrameSender(port, 1024));
    const burst = Array.from({ length: FLOOD.burstSenders }, () => partialFrameSender(port, 1 << 20));

    const codes = await Promise.race([
      Promise.all(closes),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the flooding WebSockets were not all closed in time')), PATIENCE_MS)),
    ]);
    const slowSent = await Promise.all(slow);
    const burstSent = await Promise.all(burst);
    const floodSeconds = (Date.now() - floodAt) / 1000;
    const stepAfterFlood = lastStep(out);
    await new Promise((r) => setTimeout(r, 2000));
    clearInterval(sampler);
    const halfOpenStillOpen = halfOpen.filter((s) => !s.destroyed).length;
    for (const s of halfOpen) s.destroy();

    const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
    const before = samples.filter((s) => s.at < floodAt).map((s) => s.rss);
    const during = samples.filter((s) => s.at >= floodAt).map((s) => s.rss);
    const baseline = before.sort((a, b) => a - b)[before.length >> 1];
    const peak = Math.max(...during);
    const byCode = codes.reduce<Record<number, number>>((a, code) => ({ ...a, [code]: (a[code] ?? 0) + 1 }), {});
    const figures = {
      websockets: FLOOD.websockets, closedBy: byCode, slowSenders: FLOOD.slowSenders, slowSenderBytesMax: Math.max(...slowSent), burstSenders: FLOOD.burstSenders, burstsClosed: burstSent.length,
      halfOpenHttp: FLOOD.halfOpenHttp, halfOpenStillOpenAfterFlood: halfOpenStillOpen, floodSeconds,
      rssMB: { baseline: mb(baseline), peak: mb(peak), growth: mb(peak - baseline), last: mb(during.at(-1)!) },
      stepsDuringFlood: stepAfterFlood - stepAtFlood,
    };
    console.log(`flood: ${JSON.stringify(figures)}`);

    // Every silent WebSocket was closed by the coordinator's handshake timeout, and every half-sent
    // upgrade request by the HTTP server's headers timeout, which is that same time.
    expect(byCode).toEqual({ 4009: FLOOD.websockets });
    expect(halfOpenStillOpen, 'half-open HTTP requests still open after the flood').toBe(0);
    // Slow senders were cut at the pre-handshake cap (16 KB), long before their 1 MB frame.
    expect(Math.max(...slowSent)).toBeLessThan(64 * 1024);
    // 1 MB of a frame written at once is cut too (all closed by the coordinator; the memory bound says it was not held).
    expect(burstSent).toHaveLength(FLOOD.burstSenders);
    expect(stepAfterFlood - stepAtFlood).toBeGreaterThan(0);
    expect(peak - baseline).toBeLessThan(RSS_BOUND_MB * 2 ** 20);
    const log = c.output();
    expect(log).toMatch(/cutting connection: sent \d+ bytes before completing the handshake/);

    // Stop (Ctrl-C: the state is saved) and compare with one thread for as many steps.
    c.child.kill('SIGINT');
    await expectExit(c, 130);
    const steps = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).optimizerState.iterations as number;
    const reference = join(root, 'reference');
    const r = await runCnn(['train', ...SETTINGS, '--max-steps', String(steps), '--threads', '1', '--out', reference, '--quiet', '--no-report']);
    expect(r.code, r.stderr).toBe(0);
    expect(weightsOf(out).equals(weightsOf(reference))).toBe(true);
  }, 5 * 60_000);
});
