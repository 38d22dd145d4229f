import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type CoordinatorMessage, PROTOCOL_VERSION, decodeCoordinatorMessage, encode } from '@cnn/coordinator';
import { afterEach, describe, expect, it } from 'vitest';
import { start, tempDir, waitFor } from '../cli-helpers.js';
import { COORDINATOR_BIN, type Proc, expectExit, startCoordinator, startHost } from '../cluster-helpers.js';

/*
 * Transport security beyond test/cluster/tls.test.ts (wss, untrusted certificates, plain ws to a TLS
 * port, wrong and missing tokens over TLS) and test/cluster/netns.test.ts (a token required off
 * loopback, an intruder without it refused): listening beyond loopback without a token is refused at
 * start, and wrong tokens are rate-limited per address through the real binary.
 */

const TOKEN = 'security-test-token';
const RUN = ['--model', 'seed', '--batch-size', '32', '--max-steps', '100000', '--epochs', '1000', '--seed', '8'];

interface Socket {
  binaryType: string;
  on(event: 'message', listener: (data: Buffer) => void): Socket;
  on(event: 'close' | 'error', listener: () => void): Socket;
  once(event: 'open', listener: () => void): Socket;
  send(data: Uint8Array): void;
  terminate(): void;
}
const requireFromCoordinator = createRequire(createRequire(import.meta.url).resolve('@cnn/coordinator'));
const { WebSocket } = requireFromCoordinator('ws') as { WebSocket: new (url: string, options: object) => Socket };

const processes: Proc[] = [];
afterEach(() => {
  for (const p of processes.splice(0)) p.child.kill('SIGKILL');
});

/** Says hello with `token` on a raw WebSocket; resolves to the coordinator's answer. */
async function hello(url: string, token: string): Promise<CoordinatorMessage> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  socket.binaryType = 'nodebuffer';
  const received: CoordinatorMessage[] = [];
  socket.on('message', (d) => received.push(decodeCoordinatorMessage(d, null)));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('open', () => resolve()));
  socket.send(encode({ type: 'hello', version: PROTOCOL_VERSION, token, name: 'guesser', threads: 1 }));
  await waitFor(() => received.length > 0, 30_000, 'an answer to hello');
  socket.terminate();
  return received[0];
}

describe('transport security', () => {
  it('listening beyond loopback without a token is refused before the port opens', async () => {
    const p = start(COORDINATOR_BIN, ['start', '--host', '0.0.0.0', '--port', '0', '--local-threads', '0', '--model', 'seed']);
    processes.push(p);
    const r = await p.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: --host 0\.0\.0\.0 listens beyond this machine: give a --token that joining hosts must present/);
    expect(r.stdout + r.stderr).not.toMatch(/cnn-worker join/);
  }, 60_000);

  it('wrong tokens are rate-limited per address: after 5, even the right one is refused for a while', async () => {
    const c = await startCoordinator([...RUN, '--token', TOKEN, '--local-threads', '1', '--out', join(tempDir('security'), 'run'), '--no-report']);
    processes.push(c);
    const answers: string[] = [];
    for (let i = 0; i < 7; i++) {
      const m = await hello(c.url, `guess-${i}`);
      answers.push(m.type === 'reject' ? m.message : m.type);
    }
    expect(answers.slice(0, 5).every((a) => a.startsWith('the join token is wrong'))).toBe(true);
    expect(answers.slice(5).every((a) => /^too many wrong tokens from 127\.0\.0\.1: refused without a check for \d+ s more$/.test(a))).toBe(true);
    // A real host with the right token, from the same address, within the window: refused, and it says why.
    const host = startHost(c.url, ['--token', TOKEN, '--threads', '1']);
    processes.push(host);
    expect((await expectExit(host, 1)).stderr).toMatch(/CNN_PROTO_BAD_TOKEN: too many wrong tokens from 127\.0\.0\.1/);
    // The coordinator itself trains on.
    expect(c.child.exitCode).toBeNull();
  }, 120_000);
});
