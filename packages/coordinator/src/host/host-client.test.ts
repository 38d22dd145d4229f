import { Writable } from 'node:stream';
import { type Dataset, Sequential, datasetFingerprint, layers, networkFromTopology, tensor } from '@cnn/core';
import { type Logger, pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { modelFingerprint } from '../fingerprint.js';
import { type DecodeLimits, decodeHostMessage, encode } from '../protocol/codec.js';
import { type CoordinatorMessage, type HostMessage, PROTOCOL_VERSION, type RunSpec } from '../protocol/messages.js';
import { HostClient } from './host-client.js';

/*
 * The host's side of a connection against a coordinator that breaks the protocol's order: a real
 * HostClient (one thread) and a WebSocket server on 127.0.0.1 that plays the coordinator's part,
 * frame by frame.
 */

const PATIENCE_MS = 20_000;
const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    for (const c of s.clients) c.terminate();
    await new Promise((r) => s.close(r));
  }
});

function tinyRun(): { run: RunSpec; dataset: Dataset } {
  const model = new Sequential();
  model.add(layers.flatten({ inputShape: [2, 2, 1] }));
  model.add(layers.dense({ units: 2, activation: 'softmax' }));
  const topology = model.toJSON();
  const network = networkFromTopology(topology);
  const loss = 'sparse_categorical_crossentropy';
  const split = { x: tensor(Float32Array.from({ length: 64 }, (_, i) => (i % 7) / 7), [16, 2, 2, 1]), y: tensor(Float32Array.from({ length: 16 }, (_, i) => i % 2), [16]) };
  const dataset: Dataset = { name: 'tiny', train: split, test: split, classes: 2 };
  const run: RunSpec = {
    model: topology, modelFingerprint: modelFingerprint(topology, network, loss), dataset: 'tiny', datasetFingerprint: datasetFingerprint(dataset),
    loss, seed: 1, microBatch: 8, maxShards: 2, paramCount: network.paramCount,
  };
  return { run, dataset };
}

/** One connection as the fake coordinator sees it: what the host sent, and how it closed. */
interface Seen {
  readonly socket: WebSocket;
  readonly received: HostMessage[];
  readonly closed: Promise<number>;
}

/** A coordinator that hands each new connection to `script` (in order) and records what the host does. */
async function fakeCoordinator(limits: DecodeLimits, scripts: ((c: Seen) => void)[]): Promise<{ url: string; connections: Seen[] }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  servers.push(wss);
  await new Promise((r) => wss.once('listening', r));
  const connections: Seen[] = [];
  wss.on('connection', (socket) => {
    const c: Seen = { socket, received: [], closed: new Promise((resolve) => socket.on('close', (code) => resolve(code))) };
    socket.on('message', (data: Buffer) => c.received.push(decodeHostMessage(data, limits)));
    connections.push(c);
    scripts[connections.length - 1]?.(c);
  });
  const { port } = wss.address() as { port: number };
  return { url: `ws://127.0.0.1:${port}`, connections };
}

function send(c: Seen, m: CoordinatorMessage): void {
  c.socket.send(encode(m));
}

/** Resolves once the host has sent `count` messages on this connection. */
function afterMessages(c: Seen, count: number): Promise<void> {
  return new Promise((resolve) => {
    const poll = setInterval(() => c.received.length >= count && (clearInterval(poll), resolve()), 5);
  });
}

function capturingLog(): { log: Logger; codes: () => string[] } {
  const out: string[] = [];
  const stream = new Writable({ write: (chunk, _enc, done) => (out.push(String(chunk)), done()) });
  return { log: pino({ level: 'info' }, stream) as Logger, codes: () => out.join('').trim().split('\n').map((l) => JSON.parse(l).code).filter(Boolean) };
}

describe('the host accepts only what its connection state allows', () => {
  it('refuses work before this connection\'s welcome, and a second welcome, with CNN_PROTO_UNEXPECTED; then serves the run to its end', async () => {
    const { run, dataset } = tinyRun();
    const welcome: CoordinatorMessage = { type: 'welcome', version: PROTOCOL_VERSION, hostId: 'host-1', heartbeatMs: 1000, run };
    const work: CoordinatorMessage = {
      type: 'work', version: PROTOCOL_VERSION, work: 1, step: 0, epoch: 0, batchStart: 0, batchSize: 16, shuffle: false,
      pieces: [{ start: 0, len: 2 }], params: new Float32Array(run.paramCount),
    };
    const { url, connections } = await fakeCoordinator({ paramCount: run.paramCount, maxPieces: run.maxShards }, [
      // 1: a proper join, then the coordinator goes away: the host keeps its model for the next connection.
      (c) => void afterMessages(c, 1).then(() => send(c, welcome)).then(() => afterMessages(c, 2)).then(() => c.socket.close(1001)),
      // 2: work straight after hello, before any welcome on this connection.
      (c) => void afterMessages(c, 1).then(() => send(c, work)),
      // 3: welcome, then welcome again.
      (c) => void afterMessages(c, 1).then(() => send(c, welcome)).then(() => afterMessages(c, 2)).then(() => send(c, welcome)),
      // 4: welcome, one order answered, done.
      (c) => void afterMessages(c, 1).then(() => send(c, welcome)).then(() => afterMessages(c, 2)).then(() => send(c, work))
        .then(() => afterMessages(c, 3)).then(() => send(c, { type: 'done', version: PROTOCOL_VERSION, reason: 'test over' })),
    ]);
    const { log, codes } = capturingLog();
    const host = new HostClient({ url, token: 't', threads: 1, log, reconnectForMs: PATIENCE_MS, loadDataset: async () => dataset });
    const outcome = await Promise.race([
      host.run(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the host did not finish')), PATIENCE_MS)),
    ]);

    expect(outcome).toEqual({ finished: true, reason: 'test over' });
    expect(connections).toHaveLength(4);
    expect(connections[0].received.map((m) => m.type)).toEqual(['hello', 'ready']);
    expect(connections[1].received.map((m) => m.type)).toEqual(['hello']);
    expect(await connections[1].closed).toBe(4005);
    expect(connections[2].received.map((m) => m.type)).toEqual(['hello', 'ready']);
    expect(await connections[2].closed).toBe(4005);
    expect(connections[3].received.map((m) => m.type)).toEqual(['hello', 'ready', 'result']);
    expect(codes().filter((c) => c === 'CNN_PROTO_UNEXPECTED')).toHaveLength(2);
  }, 2 * PATIENCE_MS);
});
