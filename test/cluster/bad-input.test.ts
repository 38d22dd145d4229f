import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CoordinatorMessage, PROTOCOL_ERRORS, PROTOCOL_VERSION, type ProtocolErrorCode, ProtocolError, type Welcome, type Work,
  decodeCoordinatorMessage, decodeHostMessage, encode, modelFingerprint,
} from '@cnn/coordinator';
import { networkFromTopology } from '@cnn/core';
import { runCnn, tempDir, waitFor, weightsOf } from '../cli-helpers.js';
import { type Proc, expectExit, lastStep, startCoordinator, startHost } from '../cluster-helpers.js';

/*
 * Bad inputs against a real coordinator process, from raw WebSocket clients driven by hand with the
 * package's own codec. Every bad peer must be refused with its code (reject frame, close code, log
 * line, /status event) while the run goes on and ends with the weights of a clean single-thread run.
 *
 * Nothing here depends on timing: the first rogue host holds step 1 by not answering its work order
 * (the coordinator waits for it; ws answers the heartbeat pings by itself), so every bad connection
 * and the second rogue's join happen while the run is provably in progress, mid-step 1.
 */

/** The part of ws' client WebSocket this test uses. */
interface Socket {
  binaryType: string;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): Socket;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): Socket;
  on(event: 'error', listener: (e: Error) => void): Socket;
  once(event: 'open', listener: () => void): Socket;
  once(event: 'error', listener: (e: Error) => void): Socket;
  send(data: Uint8Array | string): void;
  terminate(): void;
}

// ws as the coordinator package resolves it: the test package does not depend on ws itself.
const requireFromCoordinator = createRequire(createRequire(import.meta.url).resolve('@cnn/coordinator'));
const { WebSocket } = requireFromCoordinator('ws') as { WebSocket: new (url: string, options: { perMessageDeflate: boolean }) => Socket };

const TOKEN = 'bad-input-token';
// Batch 32 / micro-batch 8: 4 micro-shards a step, so step 1's tree is the one piece [0,+4) for a
// lone host, or [0,+2) and [2,+2) for two hosts of one thread each.
const RUN = ['--model', 'seed', '--batch-size', '32', '--micro-batch-size', '8', '--max-steps', '100', '--seed', '5'];
/** Generous: a loaded machine is slow, and nothing here is a race. */
const PATIENCE_MS = 30_000;

const processes: Proc[] = [];
const peers: Peer[] = [];
afterEach(() => {
  for (const p of peers.splice(0)) p.socket.terminate();
  for (const p of processes.splice(0)) p.child.kill('SIGKILL');
});

/** A hand-driven WebSocket client: records every frame the coordinator sends and how it closed. */
class Peer {
  readonly socket: Socket;
  readonly received: CoordinatorMessage[] = [];
  readonly undecodable: string[] = [];
  closed: { code: number; reason: string } | null = null;
  #paramCount: number | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (data: Buffer) => {
      try {
        const m = decodeCoordinatorMessage(data, this.#paramCount);
        if (m.type === 'welcome') this.#paramCount = m.run.paramCount;
        this.received.push(m);
      } catch (e) {
        this.undecodable.push(String(e));
      }
    });
    socket.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
    });
    socket.on('error', () => {});
  }

  static async open(url: string): Promise<Peer> {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    socket.binaryType = 'nodebuffer';
    const peer = new Peer(socket);
    peers.push(peer);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return peer;
  }

  send(frame: Uint8Array | string): void {
    this.socket.send(frame);
  }

  /** The first message of `type` not yet taken. */
  async take<T extends CoordinatorMessage['type']>(type: T): Promise<Extract<CoordinatorMessage, { type: T }>> {
    const at = () => this.received.findIndex((m) => m.type === type);
    await waitFor(() => at() >= 0 || this.closed !== null, PATIENCE_MS, `a '${type}' frame`);
    const i = at();
    if (i < 0) throw new Error(`the coordinator closed the connection (${this.closed?.code} ${this.closed?.reason}) instead of sending '${type}'`);
    return this.received.splice(i, 1)[0] as Extract<CoordinatorMessage, { type: T }>;
  }

  /** Waits for the close; returns the reject frame's code (if one came) and the close code. */
  async refusal(): Promise<{ code: string | undefined; close: number; reason: string }> {
    await waitFor(() => this.closed !== null, PATIENCE_MS, 'the coordinator to close the connection');
    const reject = this.received.find((m) => m.type === 'reject');
    return { code: reject?.type === 'reject' ? reject.code : undefined, close: this.closed!.code, reason: this.closed!.reason };
  }

  hello(overrides: Record<string, unknown> = {}): void {
    this.send(encode({ type: 'hello', version: PROTOCOL_VERSION, token: TOKEN, name: 'rogue', threads: 1, ...overrides } as never));
  }

  ready(run: Welcome['run'], overrides: Record<string, unknown> = {}): void {
    this.send(encode({ type: 'ready', version: PROTOCOL_VERSION, modelFingerprint: run.modelFingerprint, datasetFingerprint: run.datasetFingerprint, ...overrides } as never));
  }

  /** hello -> welcome -> ready with the run's own fingerprints: a host in good standing. */
  async join(name: string): Promise<Welcome> {
    this.hello({ name });
    const welcome = await this.take('welcome');
    this.ready(welcome.run);
    return welcome;
  }

  /** Answers a work order with exactly the pieces ordered, each with gradient `grad()`. */
  answer(order: Work, grad: () => Float32Array): void {
    this.send(encode({
      type: 'result', version: PROTOCOL_VERSION, work: order.work, step: order.step, computeMs: 1,
      pieces: order.pieces.map((p) => ({ ...p, lossSum: 1, correct: 0, count: 8, grad: grad() })),
    }));
  }
}

/** Seeded random bytes (mulberry32): the same frame on every run. */
function randomBytes(seed: number, length: number): Uint8Array {
  let a = seed >>> 0;
  return Uint8Array.from({ length }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) & 0xff;
  });
}

interface Status {
  state: string;
  step: number;
  hosts: { id: string; alive: boolean; threads: number }[];
  events: { kind: string; host: string; detail: string }[];
}

async function status(url: string): Promise<Status> {
  const res = await fetch(`${url.replace(/^ws/, 'http')}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json');
  return (await res.json()) as Status;
}

/** Polls GET /status until `holds`. */
async function statusUntil(url: string, holds: (s: Status) => boolean, what: string): Promise<Status> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const s = await status(url);
    if (holds(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out after ${PATIENCE_MS} ms waiting for ${what}; /status: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const rejectedCodes = (s: Status) => s.events.filter((e) => e.kind === 'rejected').map((e) => e.detail.split(':')[0]);

/** The codes of the coordinator's "closing connection" log lines (pino JSON on stderr). */
function loggedRejections(stderr: string): string[] {
  return stderr.split('\n').flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; code?: string };
      return entry.msg?.startsWith('closing connection') && entry.code ? [entry.code] : [];
    } catch {
      return [];
    }
  });
}


const ALL_CODES: ProtocolErrorCode[] = [
  'CNN_PROTO_BAD_TOKEN', 'CNN_PROTO_BAD_VERSION', 'CNN_PROTO_BAD_MODEL', 'CNN_PROTO_BAD_DATASET', 'CNN_PROTO_MALFORMED',
  'CNN_PROTO_UNEXPECTED', 'CNN_PROTO_BAD_LENGTH', 'CNN_PROTO_NOT_FINITE',
];

async function expectRefusal(peer: Peer, code: ProtocolErrorCode): Promise<void> {
  const r = await peer.refusal();
  expect({ code: r.code, close: r.close, reason: r.reason }).toEqual({ code, close: PROTOCOL_ERRORS[code].close, reason: code });
}

/** Runs `body`; a failure carries the end of the coordinator's output. */
async function showingOutput<T>(coordinator: Proc, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    throw new Error(`${(e as Error).message}\ncoordinator output:\n${coordinator.output().slice(-6000)}`, { cause: e });
  }
}

/** Every kind of bad connection that fails before or at the handshake, each on its own socket. */
async function badConnections(url: string, spec: Welcome['run']): Promise<void> {
  const badToken = await Peer.open(url);
  badToken.hello({ token: 'not-the-token' });
  await expectRefusal(badToken, 'CNN_PROTO_BAD_TOKEN');
  expect(badToken.received.some((m) => m.type === 'welcome')).toBe(false);

  const badVersion = await Peer.open(url);
  badVersion.hello({ version: PROTOCOL_VERSION + 1 });
  await expectRefusal(badVersion, 'CNN_PROTO_BAD_VERSION');
  // {version: 1n}: a MessagePack BigInt (msgpackr ext 0x42), once an uncaught TypeError in the coordinator.
  const bigintVersion = await Peer.open(url);
  bigintVersion.send(Uint8Array.from([0x81, 0xa7, ...Buffer.from('version'), 0xd4, 0x42, 0x01]));
  await expectRefusal(bigintVersion, 'CNN_PROTO_BAD_VERSION');

  const badModel = await Peer.open(url);
  badModel.hello();
  badModel.ready((await badModel.take('welcome')).run, { modelFingerprint: '0'.repeat(64) });
  await expectRefusal(badModel, 'CNN_PROTO_BAD_MODEL');
  const badData = await Peer.open(url);
  badData.hello();
  badData.ready((await badData.take('welcome')).run, { datasetFingerprint: '0'.repeat(64) });
  await expectRefusal(badData, 'CNN_PROTO_BAD_DATASET');

  const hello = encode({ type: 'hello', version: PROTOCOL_VERSION, token: TOKEN, name: 'cut', threads: 1 });
  const truncated = await Peer.open(url);
  truncated.send(hello.subarray(0, Math.floor(hello.byteLength / 2)));
  await expectRefusal(truncated, 'CNN_PROTO_MALFORMED');
  const noise = randomBytes(0xbad, 300);
  expect(() => decodeHostMessage(noise, { paramCount: spec.paramCount, maxPieces: 8 })).toThrow(ProtocolError);
  const random = await Peer.open(url);
  random.send(noise);
  await expectRefusal(random, 'CNN_PROTO_MALFORMED');
  const text = await Peer.open(url);
  text.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION, token: TOKEN }));
  await expectRefusal(text, 'CNN_PROTO_MALFORMED');

  const twice = await Peer.open(url);
  twice.hello();
  await twice.take('welcome');
  twice.hello();
  await expectRefusal(twice, 'CNN_PROTO_UNEXPECTED');

  // Over maxPayload (sized to the model): ws cuts it from the frame header, 1009, before any decoding.
  const huge = await Peer.open(url);
  huge.send(new Uint8Array(64 * spec.paramCount * 4));
  expect((await huge.refusal()).close).toBe(1009);
}

const HANDSHAKE_REFUSALS = [
  'CNN_PROTO_BAD_TOKEN', 'CNN_PROTO_BAD_VERSION', 'CNN_PROTO_BAD_VERSION', 'CNN_PROTO_BAD_MODEL', 'CNN_PROTO_BAD_DATASET',
  'CNN_PROTO_MALFORMED', 'CNN_PROTO_MALFORMED', 'CNN_PROTO_MALFORMED', 'CNN_PROTO_UNEXPECTED',
];

function wrongLength(spec: Welcome['run']): () => Float32Array {
  return () => new Float32Array(spec.paramCount - 1);
}

function withNaN(spec: Welcome['run']): () => Float32Array {
  return () => {
    const g = new Float32Array(spec.paramCount);
    g[7] = Number.NaN;
    return g;
  };
}

let referenceRun: Promise<Buffer> | undefined;
/** weights.bin of the clean run (`cnn train --threads 1`, same settings), computed once per file. */
function reference(): Promise<Buffer> {
  referenceRun ??= (async () => {
    const dir = join(tempDir('bad-input-reference'), 'run');
    const r = await runCnn(['train', ...RUN, '--threads', '1', '--out', dir, '--quiet']);
    if (r.code !== 0) throw new Error(`the reference run failed:\n${r.stderr}`);
    return weightsOf(dir);
  })();
  return referenceRun;
}

describe('bad inputs: each refused with its code, none stops the run', () => {
  it('wrong token, version, fingerprints, malformed frames, and rogue hosts sending bad gradients', async () => {
    const cleanWeights = reference();
    const runDir = join(tempDir('bad-input'), 'run');
    // --local-threads 0: remote hosts do all the work, so the rogues' pieces go to other remote hosts.
    const coordinator = await startCoordinator([...RUN, '--local-threads', '0', '--min-hosts', '1', '--token', TOKEN, '--out', runDir]);
    processes.push(coordinator);
    const { url } = coordinator;
    await showingOutput(coordinator, async () => {
      // Rogue 1 joins in good standing: the run starts and sends it all of step 1, which it holds.
      const lengthRogue = await Peer.open(url);
      const welcome = await lengthRogue.join('rogue-length');
      const spec = welcome.run;
      // The fingerprint a real host computes from the welcome is the one the coordinator announced.
      expect(modelFingerprint(spec.model, networkFromTopology(spec.model), spec.loss)).toBe(spec.modelFingerprint);
      const firstOrder = await lengthRogue.take('work');
      expect({ step: firstOrder.step, pieces: firstOrder.pieces, params: firstOrder.params.length }).toEqual({ step: 0, pieces: [{ start: 0, len: 4 }], params: spec.paramCount });

      // Mid-step 1, every bad connection is refused with its code and shows in /status.
      await badConnections(url, spec);
      const during = await status(url);
      expect({ state: during.state, step: during.step, hosts: during.hosts.map((h) => h.id) }).toEqual({ state: 'training', step: 0, hosts: [welcome.hostId] });
      expect(rejectedCodes(during)).toEqual(HANDSHAKE_REFUSALS);

      // Rogue 2 joins (live once /status lists it) while rogue 1 still holds step 1.
      const nanRogue = await Peer.open(url);
      const nanWelcome = await nanRogue.join('rogue-nan');
      await statusUntil(url, (s) => s.hosts.some((h) => h.id === nanWelcome.hostId), `${nanWelcome.hostId} to be listed as a host`);

      // Rogue 1 answers with a gradient one float short: refused; its piece goes to rogue 2, still in step 1.
      lengthRogue.answer(firstOrder, wrongLength(spec));
      await expectRefusal(lengthRogue, 'CNN_PROTO_BAD_LENGTH');
      const secondOrder = await nanRogue.take('work');
      expect({ step: secondOrder.step, pieces: secondOrder.pieces }).toEqual({ step: 0, pieces: [{ start: 0, len: 4 }] });
      // ... which answers with a NaN: refused; with no host left, the step waits for one.
      nanRogue.answer(secondOrder, withNaN(spec));
      await expectRefusal(nanRogue, 'CNN_PROTO_NOT_FINITE');
      const waiting = await statusUntil(url, (s) => rejectedCodes(s).includes('CNN_PROTO_NOT_FINITE'), 'the NaN refusal in /status');
      expect({ state: waiting.state, step: waiting.step, hosts: waiting.hosts }).toEqual({ state: 'training', step: 0, hosts: [] });
      expect(rejectedCodes(waiting)).toEqual([...HANDSHAKE_REFUSALS, 'CNN_PROTO_BAD_LENGTH', 'CNN_PROTO_NOT_FINITE']);
      for (const p of peers) expect(p.undecodable).toEqual([]);

      // A real host joins and computes the whole run, step 1 included.
      const host = startHost(url, ['--token', TOKEN, '--threads', '1']);
      processes.push(host);
      const finished = await expectExit(coordinator, 0);
      await expectExit(host, 0);
      expect(lastStep(runDir)).toBe(100);
      const logged = loggedRejections(finished.stderr);
      for (const code of ALL_CODES) expect(logged, code).toContain(code);
      expect(logged.filter((c) => c === 'CNN_PROTO_MALFORMED')).toHaveLength(3);
      // The rogues are named in the log: their host id and address, what was wrong, where.
      const closing = (code: string) => finished.stderr.split('\n').find((l) => l.includes(`"code":"${code}"`) && l.includes('closing connection'));
      expect(closing('CNN_PROTO_BAD_LENGTH')).toMatch(new RegExp(`"host":"${welcome.hostId}","address":"127\\.0\\.0\\.1:\\d+".*result\\.pieces\\[0\\]\\.grad holds ${(spec.paramCount - 1) * 4} bytes`));
      expect(closing('CNN_PROTO_NOT_FINITE')).toMatch(new RegExp(`"host":"${nanWelcome.hostId}","address":"127\\.0\\.0\\.1:\\d+".*result\\.pieces\\[0\\]\\.grad\\[7\\] is NaN`));
      expect(finished.stderr).toMatch(new RegExp(`"host":"${welcome.hostId}","hostName":"rogue-length"`));
      expect(finished.stderr.match(/host lost mid-step: reassigning its pieces/g)).toHaveLength(2);
      expect(finished.stderr).toMatch(/no live host: waiting for one to join/);
      expect(weightsOf(runDir).equals(await cleanWeights)).toBe(true);
    });
  }, 120_000);
});

describe("the coordinator's own pool takes over a rogue host's piece (--local-threads 1)", () => {
  let outcome: { code: number | null; stderr: string; runDir: string } | undefined;

  beforeAll(async () => {
    void reference();
    const runDir = join(tempDir('bad-input-local'), 'run');
    const coordinator = await startCoordinator([...RUN, '--local-threads', '1', '--min-hosts', '1', '--token', TOKEN, '--out', runDir]);
    processes.push(coordinator);
    await showingOutput(coordinator, async () => {
      // The pool and the rogue (1 thread each) share step 1: [0,+2) and [2,+2). The rogue holds its half...
      const rogue = await Peer.open(coordinator.url);
      const spec = (await rogue.join('rogue-length')).run;
      const order = await rogue.take('work');
      expect(order.pieces).toEqual([{ start: 2, len: 2 }]);
      await badConnections(coordinator.url, spec);
      // ... then answers with a gradient one float short; the pool computes [2,+2) too.
      rogue.answer(order, wrongLength(spec));
      await expectRefusal(rogue, 'CNN_PROTO_BAD_LENGTH');
      const finished = await coordinator.done;
      outcome = { code: finished.code, stderr: finished.stderr, runDir };
    });
  }, 120_000);

  it('refuses each bad peer with its code and finishes the run (exit 0)', () => {
    expect(outcome!.code, outcome!.stderr.slice(-4000)).toBe(0);
    expect(lastStep(outcome!.runDir)).toBe(100);
    const logged = loggedRejections(outcome!.stderr);
    for (const code of ALL_CODES.filter((c) => c !== 'CNN_PROTO_NOT_FINITE')) expect(logged, code).toContain(code);
    expect(outcome!.stderr.match(/host lost mid-step: reassigning its pieces/g)).toHaveLength(1);
  });

  // The pool computes a second order of the same step into fresh result buffers, so the first
  // order's sums survive until the step is combined (they once were overwritten).
  it('ends with the weights of a clean run', async () => {
    expect(weightsOf(outcome!.runDir).equals(await reference())).toBe(true);
  });
});

describe('a host whose sums are wrong but well-formed is caught by --verify-every and dropped', () => {
  it('an honest host with another thread count passes every check (bitwise equal sums) and the run ends clean', async () => {
    const cleanWeights = reference();
    const runDir = join(tempDir('bad-input-honest'), 'run');
    const coordinator = await startCoordinator([...RUN, '--local-threads', '1', '--min-hosts', '1', '--verify-every', '1', '--token', TOKEN, '--out', runDir, '--log-level', 'debug']);
    processes.push(coordinator);
    const host = startHost(coordinator.url, ['--token', TOKEN, '--threads', '2']);
    processes.push(host);
    const finished = await expectExit(coordinator, 0);
    await expectExit(host, 0);
    expect(finished.stderr).not.toMatch(/CNN_PROTO_BAD_RESULT/);
    // Every step the host answered had a piece of it summed again here (a few may have gone to the pool alone).
    expect((finished.stderr.match(/"msg":"piece verified"/g) ?? []).length).toBeGreaterThan(50);
    expect(lastStep(runDir)).toBe(100);
    expect(weightsOf(runDir).equals(await cleanWeights)).toBe(true);
  }, 120_000);

  it('refuses it with CNN_PROTO_BAD_RESULT, computes the step again without it, and ends with a clean run\'s weights', async () => {
    const cleanWeights = reference();
    const runDir = join(tempDir('bad-input-liar'), 'run');
    // --verify-every 1: every step with a remote answer has one of its pieces summed again here.
    const coordinator = await startCoordinator([...RUN, '--local-threads', '1', '--min-hosts', '1', '--verify-every', '1', '--token', TOKEN, '--out', runDir]);
    processes.push(coordinator);
    await showingOutput(coordinator, async () => {
      const liar = await Peer.open(coordinator.url);
      const welcome = await liar.join('liar');
      const order = await liar.take('work');
      expect(order.pieces).toEqual([{ start: 2, len: 2 }]);
      // Finite, of the right length, for exactly the pieces ordered: it passes every check of the frame.
      liar.answer(order, () => new Float32Array(welcome.run.paramCount).fill(1e-3));
      await expectRefusal(liar, 'CNN_PROTO_BAD_RESULT');
      expect(liar.received.find((m) => m.type === 'reject')).toMatchObject({ message: expect.stringMatching(/^step 1: its sums of shards \[2, 4\) differ from this machine's computation/) });

      const finished = await expectExit(coordinator, 0);
      expect(lastStep(runDir)).toBe(100);
      expect(finished.stderr).toMatch(/host dropped, computing the step again without it/);
      expect(weightsOf(runDir).equals(await cleanWeights)).toBe(true);
    });
  }, 120_000);
});
