import { Writable } from 'node:stream';
import { type BlockSum, CnnError, SGD, type ShardStats, type StepRequest, type TrainingSetup } from '@cnn/core';
import type { HostPool } from '@cnn/worker';
import { type Logger, pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ClusterStrategy } from './cluster-strategy.js';
import { type HostLink, HostLost, type WorkOrder, type WorkResult } from './host-link.js';
import { LocalHostLink } from './local-host.js';
import { Membership } from './membership.js';

/*
 * The cluster strategy with hosts faked in-process, so stalls, late answers and non-finite sums
 * happen exactly when the test says. Shard i's gradient is the constant i + 1 in every element:
 * sums of small integers are exact in float32 in any order, so a step's result says whether every
 * shard was counted exactly once.
 */

const P = 3;
const MICRO = 2;
/** Deadlines short enough for a unit test; the floor still dwarfs a fake host's answer time. */
const DEADLINES = { factor: 4, floorMs: 60, minSamples: 3 };

type Behaviour = 'answer' | 'hang' | 'nan';

class FakeHost implements HostLink {
  readonly threads = 1;
  readonly address = 'fake';
  readonly orders: WorkOrder[] = [];
  behaviour: Behaviour = 'answer';
  #alive = true;
  readonly #hung: (() => void)[] = [];
  readonly #membership: Membership;

  constructor(readonly id: string, membership: Membership) {
    this.#membership = membership;
    membership.add(this);
  }

  get name(): string {
    return `${this.id}-machine`;
  }

  get alive(): boolean {
    return this.#alive;
  }

  compute(order: WorkOrder): Promise<WorkResult> {
    if (!this.#alive) return Promise.reject(new HostLost(`${this.id} is gone`));
    this.orders.push(order);
    const started = performance.now();
    const answer = (): WorkResult => ({ blocks: order.pieces.map((p) => pieceSum(p, order.request)), computeMs: 1, roundTripMs: performance.now() - started, pool: null });
    switch (this.behaviour) {
      case 'answer':
        return new Promise((resolve) => setTimeout(() => resolve(answer()), 2));
      case 'hang':
        return new Promise((resolve) => this.#hung.push(() => resolve(answer())));
      case 'nan':
        // As the server does with a refused result: the host is dropped, the oldest order names its piece.
        this.#alive = false;
        this.#membership.remove(this.id, 'CNN_PROTO_NOT_FINITE');
        return Promise.reject(new HostLost(`${this.id} lost: CNN_PROTO_NOT_FINITE`, 'CNN_PROTO_NOT_FINITE', order.pieces[0]));
    }
  }

  /** Answers the orders it held back (late). */
  release(): void {
    for (const answer of this.#hung.splice(0)) answer();
  }

  finish(): void {}
}

/** The sum of shards [start, start + len) of a batch, as any host would compute it. */
function pieceSum(p: { start: number; len: number }, request: StepRequest): BlockSum {
  const shards = Math.ceil(request.batchSize / MICRO);
  let total = 0;
  let count = 0;
  for (let i = p.start; i < Math.min(p.start + p.len, shards); i++) {
    total += i + 1;
    count += Math.min(MICRO, request.batchSize - i * MICRO);
  }
  return { start: p.start, len: p.len, grad: new Float32Array(P).fill(total), lossSum: total, correct: 0, count };
}

function setup(): TrainingSetup {
  return {
    network: null as never, modelConfig: null, params: new Float32Array(P), loss: null as never, fuseSoftmax: false,
    optimizer: new SGD({ learningRate: 1 }), slots: [], microBatch: MICRO, maxBatchSize: 64, seed: 1, x: null, y: null,
  };
}

/** A logger whose lines the test reads. */
function capturingLog(): { log: Logger; lines: () => { msg: string; host?: string; level: number }[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      out.push(String(chunk));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream) as Logger, lines: () => out.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

async function strategyWith(membership: Membership, log: Logger): Promise<{ strategy: ClusterStrategy; s: TrainingSetup }> {
  const strategy = new ClusterStrategy({ membership, log, evaluator: { evaluate: async () => ({}) as ShardStats, predict: async () => new Float32Array() }, deadlines: DEADLINES });
  const s = setup();
  await strategy.prepare(s);
  return { strategy, s };
}

const step = (n: number, batchSize = 12): StepRequest => ({ step: n, epoch: 0, batchStart: 0, batchSize });

/** After `steps` clean steps of batch 12 (6 shards, sum 21 each, SGD lr 1 over B = 12). */
const expectedParam = (steps: number) => {
  const p = new Float32Array(1);
  for (let i = 0; i < steps; i++) p[0] -= Math.fround(21 / 12);
  return p[0];
};

describe('ClusterStrategy: stragglers', () => {
  it("deals a stalled host's pieces to the others after its deadline, ignores its late answer, and takes it back", async () => {
    const membership = new Membership();
    const { log, lines } = capturingLog();
    const [a, b, c] = ['host-a', 'host-b', 'host-c'].map((id) => new FakeHost(id, membership));
    const { strategy, s } = await strategyWith(membership, log);
    // Three clean steps give every host its median time.
    for (let i = 0; i < 3; i++) expect(await strategy.trainStep(step(i))).toEqual({ lossSum: 21, correct: 0, count: 12 });

    b.behaviour = 'hang';
    const stalled = await strategy.trainStep(step(3));
    expect(stalled.count).toBe(12);
    expect(stalled.lossSum).toBe(21);
    const missed = lines().filter((l) => l.msg.startsWith('host missed its deadline'));
    expect(missed.map((l) => l.host)).toEqual(['host-b']);

    // Overdue, b gets no order in the next step; a and c do all of it.
    const bOrders = b.orders.length;
    expect((await strategy.trainStep(step(4))).count).toBe(12);
    expect(b.orders.length).toBe(bOrders);

    // Its late answer is ignored (counted nowhere), and then it is dealt work again.
    b.behaviour = 'answer';
    b.release();
    await new Promise((r) => setTimeout(r, 10));
    expect(lines().some((l) => l.msg === 'late answer from a straggler ignored' && l.host === 'host-b')).toBe(true);
    expect((await strategy.trainStep(step(5))).lossSum).toBe(21);
    expect(b.orders.length).toBe(bOrders + 1);
    expect(a.orders.length + c.orders.length).toBeGreaterThan(b.orders.length);
    expect(s.params).toEqual(new Float32Array(P).fill(expectedParam(6)));
  });

  it('gives no deadline to a host without history, nor when no other host could take its pieces', async () => {
    const membership = new Membership();
    const { log, lines } = capturingLog();
    const only = new FakeHost('host-a', membership);
    const { strategy } = await strategyWith(membership, log);
    only.behaviour = 'hang';
    const first = strategy.trainStep(step(0));
    setTimeout(() => {
      only.behaviour = 'answer';
      only.release();
    }, 4 * DEADLINES.floorMs);
    expect((await first).count).toBe(12);
    for (let i = 1; i < 4; i++) await strategy.trainStep(step(i));
    // Now with history, but alone: waiting for it beats giving it its own pieces again.
    only.behaviour = 'hang';
    const lone = strategy.trainStep(step(4));
    setTimeout(() => only.release(), 4 * DEADLINES.floorMs);
    expect((await lone).count).toBe(12);
    expect(lines().filter((l) => l.msg.startsWith('host missed its deadline'))).toEqual([]);
  });
});

describe('ClusterStrategy: divergence', () => {
  it('one host sending a non-finite sum is dropped and the step goes on', async () => {
    const membership = new Membership();
    const { log } = capturingLog();
    const [bad] = ['host-a', 'host-b'].map((id) => new FakeHost(id, membership));
    const { strategy, s } = await strategyWith(membership, log);
    bad.behaviour = 'nan';
    expect(await strategy.trainStep(step(0))).toEqual({ lossSum: 21, correct: 0, count: 12 });
    expect(s.params).toEqual(new Float32Array(P).fill(expectedParam(1)));
  });

  it('the same shards non-finite from two hosts stop the run with CNN_ERR_DIVERGED', async () => {
    const membership = new Membership();
    const { log } = capturingLog();
    for (const id of ['host-a', 'host-b', 'host-c']) new FakeHost(id, membership).behaviour = 'nan';
    const { strategy, s } = await strategyWith(membership, log);
    // All three are dropped, each for its own shards; the step waits for a host, which diverges too.
    setTimeout(() => {
      new FakeHost('host-d', membership).behaviour = 'nan';
    }, 20);
    const error = await strategy.trainStep(step(0)).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(CnnError);
    expect((error as CnnError).code).toBe('CNN_ERR_DIVERGED');
    expect((error as CnnError).message).toMatch(/step 1: shards \[0, \d+\) gave a non-finite gradient or loss on host-a \(host-a-machine\) and again on host-d .*lower the learning rate/);
    expect(s.params).toEqual(new Float32Array(P));
  });

  it("a non-finite sum from the coordinator's own threads is divergence at once", async () => {
    const membership = new Membership();
    const { log } = capturingLog();
    const s = setup();
    // Alone, the pool takes the whole step in one command, asked to check what its threads sum; a
    // block that is not finite comes back marked with a NaN loss (and nothing was updated).
    const asked: unknown[] = [];
    const pool = {
      threads: 1, closed: false, params: s.params,
      trainStep: async (request: StepRequest, pieces: { start: number; len: number }[], options: unknown) => {
        asked.push(options);
        return pieces.map((p) => ({ ...pieceSum(p, request), lossSum: Number.NaN }));
      },
    };
    membership.add(new LocalHostLink(pool as unknown as HostPool));
    const strategy = new ClusterStrategy({ membership, log, evaluator: { evaluate: async () => ({}) as ShardStats, predict: async () => new Float32Array() } });
    await strategy.prepare(s);
    await expect(strategy.trainStep(step(0))).rejects.toMatchObject({ code: 'CNN_ERR_DIVERGED', message: expect.stringMatching(/this machine's threads: the model diverged; lower the learning rate/) });
    expect(asked).toEqual([{ checkFinite: true }]);
    await strategy.close();
  });
});
