import { type Sequential, models, shardCount } from '@cnn/core';
import { HostPool, wholeTree } from '@cnn/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { firstBitDifference, mnist } from '../helpers.js';

const BATCH = 64;
const MICRO = 8;

function poolFor(model: Sequential, x: Parameters<typeof HostPool.start>[0]['x'], y: Parameters<typeof HostPool.start>[0]['y']): HostPool {
  return HostPool.start({
    threads: 2, modelConfig: model.toJSON(), network: model.network, params: model.params, loss: model.loss,
    fuseSoftmax: model.fusesSoftmax, microBatch: MICRO, seed: 1, maxShards: shardCount(BATCH, MICRO), x, y,
    optimizer: model.optimizer, slots: model.optimizerSlots,
  });
}

// The coordinator asks its own threads to check what they sum (StepOptions.checkFinite): a diverged
// step must come back marked and leave parameters and optimizer state exactly as they were.
describe('a pool step that checks for non-finite values', () => {
  const pools: HostPool[] = [];
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.close();
  });

  it('updates nothing when a gradient is not finite, and changes nothing when all are', async () => {
    const { train } = await mnist();
    const request = { step: 0, epoch: 0, batchStart: 0, batchSize: BATCH };
    const tree = wholeTree(shardCount(BATCH, MICRO));
    const compiled = () => {
      const m = models.seed({ seed: 3 });
      m.compile({ loss: 'sparse_categorical_crossentropy', optimizer: 'adam' });
      return m;
    };

    // A finite step: checking changes no bit of what the step computes.
    const checked = compiled();
    const plain = compiled();
    for (const [m, checkFinite] of [[checked, true], [plain, false]] as const) {
      const pool = poolFor(m, train.x, train.y);
      pools.push(pool);
      const blocks = await pool.trainStep(request, tree, { checkFinite });
      expect(blocks.every((b) => Number.isFinite(b.lossSum))).toBe(true);
    }
    expect(firstBitDifference(checked.params, plain.params)).toBe(-1);

    // One infinite weight makes every output, loss and gradient NaN.
    for (const checkFinite of [true, false]) {
      const m = compiled();
      m.params[0] = Number.POSITIVE_INFINITY;
      const before = m.params.slice();
      const slotsBefore = m.optimizerSlots.map((s) => s.slice());
      const pool = poolFor(m, train.x, train.y);
      pools.push(pool);
      const blocks = await pool.trainStep(request, tree, { checkFinite });
      if (checkFinite) {
        expect(blocks.some((b) => Number.isNaN(b.lossSum)), 'a block marked').toBe(true);
        expect(firstBitDifference(m.params, before), 'parameters').toBe(-1);
        m.optimizerSlots.forEach((s, i) => expect(firstBitDifference(s, slotsBefore[i]), `slot ${i}`).toBe(-1));
      } else {
        // Unchecked (threads() in a library fit, as Keras), the NaN update is applied.
        expect(firstBitDifference(m.params, before)).not.toBe(-1);
      }
    }
  });
});
