import { singleThread } from '@cnn/core';
import { threads } from '@cnn/worker';
import { describe, expect, it } from 'vitest';
import { firstBitDifference, trainSteps } from '../helpers.js';

// The promise of the thread strategy: the weights after N steps do not depend on the thread count.
describe('threads give the bits of one thread', () => {
  const cases = [
    // 5 shards per step: a tree whose right side is incomplete, blocks of different owners.
    { model: 'lenet5', batchSize: 40, microBatchSize: 8 },
    // dropout: masks keyed by (seed, step, sample), not by thread.
    { model: 'convnet', batchSize: 16, microBatchSize: 4 },
  ] as const;
  for (const c of cases) {
    it(`${c.model}, batch ${c.batchSize}, 50 steps: single thread = threads(1..4)`, async () => {
      const options = { steps: 50, batchSize: c.batchSize, microBatchSize: c.microBatchSize, validate: true };
      const reference = await trainSteps(c.model, singleThread(), options);
      for (const n of [1, 2, 3, 4]) {
        const run = await trainSteps(c.model, threads(n), options);
        expect(firstBitDifference(run.params, reference.params), `${n} threads`).toBe(-1);
        expect(run.history.loss).toEqual(reference.history.loss);
        expect(run.history.acc).toEqual(reference.history.acc);
        // Validation splits rows differently over threads: counts are exact, loss sums to rounding.
        expect(run.history.val_acc).toEqual(reference.history.val_acc);
        expect(run.history.val_loss[0]).toBeCloseTo(reference.history.val_loss[0], 10);
      }
    });
  }
});
