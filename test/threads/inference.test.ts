import { threads } from '@cnn/worker';
import { describe, expect, it } from 'vitest';
import { firstBitDifference, mnist, trainSteps } from '../helpers.js';

describe('predict and evaluate on threads', () => {
  it('give the outputs and counts of the calling thread', async () => {
    const { test } = await mnist();
    const { model } = await trainSteps('lenet5', threads(2), { steps: 20, batchSize: 32, microBatchSize: 8 });
    const x = test.x.slice(0, 2500);
    const y = test.y.slice(0, 2500);
    const local = model.predict(x).dataSync() as Float32Array;
    const threaded = await model.predictAsync(x, { strategy: threads(3) });
    expect(threaded.shape).toEqual([2500, 10]);
    expect(firstBitDifference(threaded.dataSync() as Float32Array, local)).toBe(-1);
    const stats = await model.evaluateAsync(x, y, { strategy: threads(2) });
    const reference = model.evaluateStats(x, y);
    expect(stats.count).toBe(2500);
    expect(stats.correct).toBe(reference.correct);
    expect(stats.lossSum).toBeCloseTo(reference.lossSum, 8);
  });
});
