import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type CoordinatorMessage, PROTOCOL_VERSION, type Welcome, type Work, decodeCoordinatorMessage, decodeHostMessage, encode } from '@cnn/coordinator';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
// Test data from core's test-only generator (not part of any build).
import { mulberry32 } from '../../packages/core/src/testing/mulberry.js';
import { runCnn, tempDir, waitFor, weightsOf } from '../cli-helpers.js';
import { type Proc, expectExit, lastStep, startCoordinator, startHost, waitForStep } from '../cluster-helpers.js';

/*
 * The protocol fuzzers against a live coordinator, over sockets, while a real host trains. Thousands
 * of connections each send generated frames: mutated hellos, arbitrary MessagePack values, random
 * bytes, text; a valid hello is followed by a bad frame. Others join properly and answer their work
 * order with a mutated result that fails validation. Every one must be closed by the coordinator with
 * a protocol close code (4000-4011) or ws' 1009 (too big), the coordinator must keep training, and
 * the weights must equal those of `cnn train --threads 1` for as many steps.
 * CNN_FUZZ_SCALE=N multiplies the connections, CNN_FUZZ_SEED picks other frames.
 */

const SCALE = Math.max(1, Number(process.env.CNN_FUZZ_SCALE ?? 1));
const SEED = process.env.CNN_FUZZ_SEED === undefined ? 0x11fe : Number(process.env.CNN_FUZZ_SEED);
const CONNECTIONS = Math.round(5000 * SCALE);
const ROGUE_HOSTS = Math.round(60 * SCALE);
const PARALLEL = 24;
const SETTINGS = ['--model', 'seed', '--batch-size', '32', '--micro-batch-size', '8', '--seed', '4', '--epochs', '1000'];
const PATIENCE_MS = 30_000;

interface Socket {
  binaryType: string;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): Socket;
  on(event: 'close', listener: (code: number) => void): Socket;
  on(event: 'error', listener: (e: Error) => void): Socket;
  once(event: 'open', listener: () => void): Socket;
  send(data: Uint8Array | string): void;
  terminate(): void;
}
// ws and msgpackr as the coordinator package resolves them: the test package does not depend on them.
const requireFromCoordinator = createRequire(createRequire(import.meta.url).resolve('@cnn/coordinator'));
const { WebSocket } = requireFromCoordinator('ws') as { WebSocket: new (url: string, options: object) => Socket };
const { Packr } = requireFromCoordinator('msgpackr') as { Packr: new (o: object) => { pack(v: unknown): Uint8Array } };
/** The codec's MessagePack settings, for frames no well-typed message gives. */
const packr = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, int64AsType: 'number' });

const processes: Proc[] = [];
const open = new Set<Socket>();
afterEach(() => {
  for (const s of open) s.terminate();
  open.clear();
  for (const p of processes.splice(0)) p.child.kill('SIGKILL');
});

/** One fuzzing connection: what it was sent, what came back, how it closed. */
class Conn {
  readonly received: CoordinatorMessage[] = [];
  readonly closed: Promise<number>;
  readonly opened: Promise<boolean>;
  paramCount: number | null = null;

  constructor(readonly socket: Socket) {
    open.add(socket);
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data) => {
      try {
        const m = decodeCoordinatorMessage(data, this.paramCount);
        if (m.type === 'welcome') this.paramCount = m.run.paramCount;
        this.received.push(m);
      } catch {
        // what the coordinator sends is checked elsewhere
      }
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.on('close', (code) => {
      open.delete(socket);
      resolve(code);
    }));
    this.opened = new Promise((resolve) => {
      socket.once('open', () => resolve(true));
      void this.closed.then(() => resolve(false));
    });
  }

  async take<T extends CoordinatorMessage['type']>(type: T): Promise<Extract<CoordinatorMessage, { type: T }> | null> {
    let done = false;
    void this.closed.then(() => (done = true));
    await waitFor(() => this.received.some((m) => m.type === type) || done, PATIENCE_MS, `a '${type}'`);
    const i = this.received.findIndex((m) => m.type === type);
    return i < 0 ? null : (this.received.splice(i, 1)[0] as Extract<CoordinatorMessage, { type: T }>);
  }
}

// Frames: valid hellos mutated byte-wise, arbitrary MessagePack values, random bytes, text.
const hello = encode({ type: 'hello', version: PROTOCOL_VERSION, token: 'any', name: 'fuzz', threads: 1 });
const mutated = (frame: Uint8Array) => fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }).map((edits) => {
  const b = Uint8Array.from(frame);
  for (const [at, v] of edits) b[at % b.length] = v;
  return b;
});
const packed = fc.anything({ maxDepth: 2, withBigInt: false, withTypedArray: true }).map((v) => {
  try {
    return packr.pack(v);
  } catch {
    return Uint8Array.of(0xc1);
  }
});
/** A hello with one field replaced by anything. */
const badHello = fc.tuple(fc.constantFrom('type', 'version', 'token', 'name', 'threads'), fc.anything({ maxDepth: 1 })).map(([key, v]) => {
  try {
    return packr.pack({ type: 'hello', version: PROTOCOL_VERSION, token: 'any', name: 'fuzz', threads: 1, [key]: v });
  } catch {
    return Uint8Array.of(0xc1);
  }
});
const frame: fc.Arbitrary<Uint8Array | string> = fc.oneof(
  mutated(hello), mutated(hello), packed, badHello, fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 50 }),
  fc.constantFrom(hello.subarray(0, 9), new Uint8Array(0)),
);

/** A result for `order` mutated until the coordinator's own decoder refuses it (a valid mutation could poison the weights). */
function badResult(order: Work, spec: Welcome['run'], rand: () => number): Uint8Array {
  const good = encode({
    type: 'result', version: PROTOCOL_VERSION, work: order.work, step: order.step, computeMs: 1,
    pieces: order.pieces.map((p) => ({ ...p, lossSum: 1, correct: 0, count: 8, grad: new Float32Array(spec.paramCount) })),
  });
  for (;;) {
    const b = Uint8Array.from(good);
    for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    try {
      decodeHostMessage(b, { paramCount: spec.paramCount, maxPieces: spec.maxShards });
    } catch {
      return b;
    }
  }
}

const PROTOCOL_CLOSE = (code: number) => (code >= 4000 && code <= 4011) || code === 1009;

describe('fuzzing a live coordinator over sockets', () => {
  it('every bad connection is closed with a code, training goes on, the weights are right', async () => {
    const root = tempDir('live-fuzz');
    const out = join(root, 'run');
    // No --token: fuzzed hellos are not rate-limited as wrong tokens, so they reach every later check.
    const c = await startCoordinator([...SETTINGS, '--max-steps', '1000000', '--local-threads', '0', '--min-hosts', '1', '--out', out, '--no-report', '--log-level', 'info']);
    processes.push(c);
    processes.push(startHost(c.url, ['--threads', '1', '--log-level', 'warn']));
    await waitForStep(out, 20, c);
    const stepBefore = lastStep(out);

    const frames = fc.sample(frame, { numRuns: CONNECTIONS, seed: SEED });
    const closes = new Map<number, number>();
    let sent = 0;
    let welcomed = 0;
    const fuzzOne = async (f: Uint8Array | string) => {
      const conn = new Conn(new WebSocket(c.url, { perMessageDeflate: false }));
      if (!(await conn.opened)) return;
      conn.socket.send(f);
      sent += 1;
      // A frame that happened to be a valid hello is welcomed: a second, bad frame gets it refused.
      const answer = await Promise.race([conn.take('welcome'), conn.closed.then(() => null)]);
      if (answer) {
        welcomed += 1;
        conn.socket.send(Uint8Array.of(0xc1));
        sent += 1;
      }
      const code = await conn.closed;
      closes.set(code, (closes.get(code) ?? 0) + 1);
    };
    const queue = [...frames];
    await Promise.all(Array.from({ length: PARALLEL }, async () => {
      for (let f = queue.shift(); f !== undefined; f = queue.shift()) await fuzzOne(f);
    }));
    const stepMid = lastStep(out);

    // Rogue hosts: join properly, then answer their order with a mutated result.
    const rand = mulberry32(SEED);
    let rogueRefused = 0;
    for (let i = 0; i < ROGUE_HOSTS; i++) {
      const conn = new Conn(new WebSocket(c.url, { perMessageDeflate: false }));
      await conn.opened;
      conn.socket.send(encode({ type: 'hello', version: PROTOCOL_VERSION, token: 'any', name: `rogue-${i}`, threads: 1 }));
      const welcome = await conn.take('welcome');
      expect(welcome).not.toBeNull();
      conn.socket.send(encode({ type: 'ready', version: PROTOCOL_VERSION, modelFingerprint: welcome!.run.modelFingerprint, datasetFingerprint: welcome!.run.datasetFingerprint }));
      const order = await conn.take('work');
      expect(order).not.toBeNull();
      conn.socket.send(badResult(order!, welcome!.run, rand));
      sent += 1;
      const code = await conn.closed;
      if (code >= 4000 && code <= 4011) rogueRefused += 1;
      closes.set(code, (closes.get(code) ?? 0) + 1);
    }
    const stepAfter = lastStep(out);

    const figures = { connections: CONNECTIONS, rogueHosts: ROGUE_HOSTS, framesSent: sent, welcomedByChance: welcomed, closes: Object.fromEntries(closes), steps: { before: stepBefore, afterFuzz: stepMid, afterRogues: stepAfter } };
    console.log(`live fuzz: ${JSON.stringify(figures)}`);
    expect([...closes.keys()].filter((code) => !PROTOCOL_CLOSE(code))).toEqual([]);
    expect(rogueRefused).toBe(ROGUE_HOSTS);
    expect(stepAfter).toBeGreaterThan(stepBefore);

    // The coordinator is alive and well: stop it (Ctrl-C saves the state) and check the bits.
    c.child.kill('SIGINT');
    const r = await expectExit(c, 130);
    // No error or fatal log line (msgpackr's own messages may quote an internal TypeError: those are refusals, level 40).
    expect(r.stderr.split('\n').filter((l) => /^\{"level":(50|60)/.test(l))).toEqual([]);
    const steps = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).optimizerState.iterations as number;
    const reference = join(root, 'reference');
    const ref = await runCnn(['train', ...SETTINGS, '--max-steps', String(steps), '--threads', '1', '--out', reference, '--quiet', '--no-report']);
    expect(ref.code, ref.stderr).toBe(0);
    expect(weightsOf(out).equals(weightsOf(reference))).toBe(true);
  }, 8 * 60_000);
});
