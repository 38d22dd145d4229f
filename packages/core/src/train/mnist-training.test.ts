/* A short real training run: the tutorial ("seed") model on all of MNIST for one epoch. */
import { describe, expect, it } from 'vitest';
import { datasets } from '../data/datasets.js';
import { seed } from '../models/builtin.js';
import type { Tensor } from '../tensor.js';

/** PyTorch reaches ~96% after 10 epochs of this model; one epoch of Adam at batch 32 clears 90% with margin. */
const MIN_TEST_ACCURACY = 0.9;

describe('training on MNIST', () => {
  it(`the seed model, 1 epoch at batch 32 with Adam, reaches >= ${MIN_TEST_ACCURACY * 100}% test accuracy`, async () => {
    const { train, test } = await datasets.mnist();
    const model = seed();
    model.compile({ loss: 'sparse_categorical_crossentropy', optimizer: 'adam', metrics: ['accuracy'] });
    const started = Date.now();
    const history = await model.fit(train.x, train.y, { batchSize: 32, epochs: 1 });
    const seconds = (Date.now() - started) / 1000;
    const [loss, acc] = (model.evaluate(test.x, test.y) as Tensor[]).map((t) => t.dataSync()[0]);
    console.log(`seed model, 1 epoch: train loss ${history.history.loss[0].toFixed(4)} acc ${history.history.acc[0].toFixed(4)}; test loss ${loss.toFixed(4)} acc ${acc.toFixed(4)}; ${seconds.toFixed(1)} s (${Math.round(60000 / seconds)} images/s)`);
    expect(model.iterations).toBe(1875);
    expect(history.history.loss[0]).toBeLessThan(0.6);
    expect(acc).toBeGreaterThanOrEqual(MIN_TEST_ACCURACY);
    expect(loss).toBeLessThan(0.4);
  });
});
