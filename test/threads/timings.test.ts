import { type ShardStats, type StepRequest, type Strategy, type Tensor, type TrainingSetup, combineBlocks, shardCount } from '@cnn/core';
import { type CommandTiming, HostPool, threads, wholeTree } from '@cnn/worker';
import { describe, expect, it } from 'vitest';
import { firstBitDifference, trainSteps } from '../helpers.js';

/** ThreadStrategy's calls on a pool started with `timings` (what bench/lib/timed-threads.mjs does). */
class TimedPoolStrategy implements Strategy {
  readonly name = 'timed pool';
  timings: CommandTiming[] | null = null;
  #pool: HostPool | undefined;

  constructor(readonly threads: number, readonly timed: boolean) {}

  async prepare(s: TrainingSetup): Promise<void> {
    this.#pool = HostPool.start({
      threads: this.threads, modelConfig: s.modelConfig, network: s.network, params: s.params, loss: s.loss,
      fuseSoftmax: s.fuseSoftmax, microBatch: s.microBatch, seed: s.seed, maxShards: shardCount(s.maxBatchSize, s.microBatch),
      x: s.x, y: s.y, optimizer: s.optimizer, slots: s.slots, timings: this.timed,
    });
    this.timings = this.#pool.timings;
  }

  async setOrder(order: Int32Array | null): Promise<void> {
    this.#pool!.setOrder(order);
  }

  async trainStep(request: StepRequest): Promise<ShardStats> {
    const shards = shardCount(request.batchSize, this.#pool!.microBatch);
    const blocks = await this.#pool!.trainStep(request, wholeTree(shards));
    return combineBlocks(blocks, shards, 0, 0);
  }

  evaluate(x: Tensor, y: Tensor): Promise<ShardStats> {
    return this.#pool!.evaluate(x, y);
  }

  predict(x: Tensor): Promise<Float32Array> {
    return this.#pool!.predict(x);
  }

  async close(): Promise<void> {
    await this.#pool?.close();
    this.#pool = undefined;
  }
}

describe('pool timings (HostPool timings: true)', () => {
  const options = { steps: 12, batchSize: 40, microBatchSize: 8 };

  it('record every step of every thread in order, and change no bit of the weights', async () => {
    const reference = await trainSteps('lenet5', threads(2), options);
    const timed = new TimedPoolStrategy(2, true);
    const run = await trainSteps('lenet5', timed, options);
    expect(firstBitDifference(run.params, reference.params)).toBe(-1);
    expect(run.history.loss).toEqual(reference.history.loss);

    const timings = timed.timings!;
    expect(timings.map((c) => c.step)).toEqual(Array.from({ length: options.steps }, (_, i) => i));
    for (const c of timings) {
      expect(c).toMatchObject({ phase2: 'update', compute: true, ranges: 2 });
      expect(c.threads).toHaveLength(2);
      const rows = c.threads.filter((t) => t !== null);
      // Every block and range was done by a thread that stamped it.
      expect(rows.reduce((a, t) => a + t.blocks, 0)).toBe(c.blocks);
      expect(rows.reduce((a, t) => a + t.ranges, 0)).toBe(c.ranges);
      const firstClaim = Math.min(...rows.filter((t) => t.blocks > 0).map((t) => t.firstClaim));
      const phase1End = Math.max(...rows.filter((t) => t.blocks > 0).map((t) => t.phase1End));
      const phase2End = Math.max(...rows.filter((t) => t.ranges > 0).map((t) => t.phase2End));
      // One clock for all threads: the stamps fall in the order the protocol imposes.
      expect(c.ringAt).toBeLessThanOrEqual(firstClaim);
      expect(firstClaim).toBeLessThanOrEqual(phase1End);
      expect(phase1End).toBeLessThanOrEqual(phase2End);
      expect(phase2End).toBeLessThanOrEqual(c.doneAt);
      for (const t of rows) {
        expect(t.phase1Busy).toBeGreaterThanOrEqual(0);
        expect(t.phase1Busy).toBeLessThanOrEqual(c.doneAt - c.ringAt);
        if (t.ranges > 0) expect(t.updateBusy).toBeGreaterThan(0);
      }
    }
  });

  it('are off by default', async () => {
    const untimed = new TimedPoolStrategy(1, false);
    await trainSteps('seed', untimed, { ...options, steps: 2 });
    expect(untimed.timings).toBeNull();
  });
});
