/* Sequential's API on real MNIST data (small slices, so the file runs in a few seconds). */
import { beforeAll, describe, expect, it } from 'vitest';
import { datasets, type Dataset } from '../data/datasets.js';
import { layers } from '../layers/index.js';
import { seed as seedModel } from '../models/builtin.js';
import { type Tensor, tensor } from '../tensor.js';
import type { Logs } from '../train/callbacks.js';
import { singleThread } from '../train/single-thread.js';
import { epochPermutation } from '../random/permutation.js';
import { Sequential } from './sequential.js';
import { caughtAsync as caught } from '../testing/caught.js';

let mnist: Dataset;
let x256: Tensor;
let y256: Tensor;

beforeAll(async () => {
  mnist = await datasets.mnist();
  x256 = mnist.train.x.slice(0, 256);
  y256 = mnist.train.y.slice(0, 256);
});

function compiled(seed = 1): Sequential {
  const model = seedModel({ seed });
  model.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] });
  return model;
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));

describe('determinism', () => {
  it('the same seed gives bitwise-identical weights, another seed other weights', async () => {
    const run = async (seed: number) => {
      const m = compiled(seed);
      await m.fit(x256, y256, { batchSize: 32, epochs: 2 });
      return bits(m.params);
    };
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    expect(await run(2)).not.toEqual(a);
  });

  it('fit seed overrides the model seed for shuffling only', async () => {
    const a = compiled(1);
    const b = compiled(1);
    expect(bits(a.params)).toEqual(bits(b.params));
    await a.fit(x256, y256, { batchSize: 32, epochs: 1, seed: 5 });
    await b.fit(x256, y256, { batchSize: 32, epochs: 1, seed: 6 });
    expect(bits(a.params)).not.toEqual(bits(b.params));
  });
});

describe('getWeights / setWeights', () => {
  it('are tensors in Keras order and shapes', () => {
    const model = seedModel();
    expect(model.getWeights().map((w) => [...w.shape])).toEqual([[2, 2, 1, 6], [6], [1014, 10], [10]]);
    expect(model.network.params.map((p) => p.fullName)).toEqual(['conv2d/kernel', 'conv2d/bias', 'dense/kernel', 'dense/bias']);
    // initial biases are zeros, kernels glorot-uniform within +-sqrt(6 / (fanIn + fanOut))
    const [k, b, d] = model.getWeights().map((w) => Array.from(w.dataSync()));
    expect(b.every((v) => v === 0)).toBe(true);
    const limit = Math.sqrt(6 / (2 * 2 * 1 + 2 * 2 * 6));
    expect(Math.max(...k.map(Math.abs))).toBeLessThanOrEqual(limit);
    expect(Math.max(...k.map(Math.abs))).toBeGreaterThan(0.5 * limit);
    expect(Math.max(...d.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 1024));
  });

  it('round-trip, and getWeights returns copies', () => {
    const model = seedModel();
    const weights = model.getWeights().map((w, i) => tensor(Float32Array.from(w.dataSync(), (v, j) => v + i + j * 1e-3), w.shape));
    model.setWeights(weights);
    const back = model.getWeights();
    back.forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(weights[i].dataSync())));
    (back[1].dataSync() as Float32Array)[0] = 1234;
    expect(model.getWeights()[1].dataSync()[0]).not.toBe(1234);
  });

  it('reject a wrong count or shape, naming the tensor', async () => {
    const model = seedModel();
    const w = model.getWeights();
    let err = await caught(() => model.setWeights(w.slice(0, 3)));
    expect(err.code).toBe('CNN_ERR_BAD_WEIGHTS');
    expect(err.message).toMatch(/has 4 weight tensors \(conv2d\/kernel, conv2d\/bias, dense\/kernel, dense\/bias\), got 3/);
    err = await caught(() => model.setWeights([w[0], w[1], w[2].reshape([10, 1014]), w[3]]));
    expect(err.message).toBe('setWeights: dense/kernel has shape [1014, 10], got [10, 1014]');
  });
});

describe('fit', () => {
  it('calls onTrainBegin, onEpochBegin/End and onBatchBegin/End with logs, and returns a History', async () => {
    const model = compiled();
    const events: string[] = [];
    const batchLogs: Logs[] = [];
    const epochLogs: Logs[] = [];
    const history = await model.fit(x256, y256, {
      batchSize: 100, epochs: 2, validationData: [mnist.test.x.slice(0, 50), mnist.test.y.slice(0, 50)],
      callbacks: {
        onTrainBegin: () => void events.push('train'),
        onEpochBegin: (e) => void events.push(`epoch ${e}`),
        onBatchBegin: (b, logs) => void events.push(`batch ${b}`, `size ${logs!.size}`),
        onBatchEnd: (b, logs) => void batchLogs.push(logs!),
        onEpochEnd: async (e, logs) => {
          await new Promise((r) => setTimeout(r, 1)); // async callbacks are awaited
          epochLogs.push(logs!);
          events.push(`end ${e}`);
        },
        onTrainEnd: () => void events.push('done'),
      },
    });
    const epoch = ['batch 0', 'size 100', 'batch 1', 'size 100', 'batch 2', 'size 56'];
    expect(events).toEqual(['train', 'epoch 0', ...epoch, 'end 0', 'epoch 1', ...epoch, 'end 1', 'done']);
    expect(batchLogs.map((l) => l.size)).toEqual([100, 100, 56, 100, 100, 56]);
    for (const l of batchLogs) expect(l.loss > 0 && l.acc >= 0 && l.acc <= 1).toBe(true);
    expect(Object.keys(epochLogs[0]).sort()).toEqual(['acc', 'loss', 'val_acc', 'val_loss']);
    expect(history.epoch).toEqual([0, 1]);
    expect(history.history.loss).toEqual(epochLogs.map((l) => l.loss));
    expect(history.history.val_acc).toEqual(epochLogs.map((l) => l.val_acc));
    // the epoch loss is the sample-weighted mean of the batch losses
    const first = batchLogs.slice(0, 3);
    expect(epochLogs[0].loss).toBeCloseTo(first.reduce((a, l) => a + l.loss * l.size, 0) / 256, 10);
    expect(model.iterations).toBe(6);
  });

  it('validationSplit takes the last fraction, before shuffling', async () => {
    const split = compiled();
    let batches = 0;
    const history = await split.fit(x256, y256, { batchSize: 32, epochs: 2, validationSplit: 0.25, callbacks: { onBatchEnd: () => void batches++ } });
    expect(batches).toBe(2 * 6); // 192 training samples
    const direct = compiled();
    await direct.fit(x256.slice(0, 192), y256.slice(0, 192), { batchSize: 32, epochs: 2 });
    expect(bits(split.params)).toEqual(bits(direct.params));
    const [valLoss, valAcc] = split.evaluate(x256.slice(192), y256.slice(192)) as Tensor[];
    // evaluate's scalars are float32; the History keeps float64
    expect(valLoss.dataSync()[0]).toBe(Math.fround(history.history.val_loss[1]));
    expect(valAcc.dataSync()[0]).toBe(Math.fround(history.history.val_acc[1]));
    const [firstLoss] = split.evaluate(x256.slice(0, 64), y256.slice(0, 64)) as Tensor[];
    expect(firstLoss.dataSync()[0]).not.toBeCloseTo(valLoss.dataSync()[0], 6);
  });

  it('stops when a callback sets stopTraining', async () => {
    const model = compiled();
    let batches = 0;
    await model.fit(x256, y256, {
      batchSize: 32, epochs: 3,
      callbacks: { onBatchEnd: (b) => void (++batches === 3 && (model.stopTraining = true)) },
    });
    expect(batches).toBe(3);
    expect(model.iterations).toBe(3);
  });

  it('each epoch visits the samples in the order epochPermutation(seed, epoch, n)', async () => {
    const orders: (number[] | null)[] = [];
    // a single-thread strategy that records the orders fit hands it
    const spy = new Proxy(singleThread(), {
      get(target, key) {
        if (key === 'setOrder') return (order: Int32Array | null) => (orders.push(order && Array.from(order)), target.setOrder(order));
        const v = Reflect.get(target, key, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const model = compiled();
    await model.fit(x256, y256, { batchSize: 64, epochs: 3, initialEpoch: 1, seed: 8, strategy: spy });
    expect(orders).toEqual([Array.from(epochPermutation(8, 1, 256)), Array.from(epochPermutation(8, 2, 256))]);
    // and another epoch index gives other weights from the same start
    const a = compiled();
    const b = compiled();
    await a.fit(x256, y256, { batchSize: 32, epochs: 1 });
    await b.fit(x256, y256, { batchSize: 32, epochs: 2, initialEpoch: 1 });
    expect(bits(a.params)).not.toEqual(bits(b.params));
  });

  it('shuffle: false visits the samples in order', async () => {
    const model = compiled();
    const first = compiled();
    await model.fit(x256, y256, { batchSize: 32, epochs: 1, shuffle: false, maxSteps: 1 });
    await first.trainOnBatch(x256.slice(0, 32), y256.slice(0, 32));
    expect(bits(model.params)).toEqual(bits(first.params));
  });
});

describe('trainOnBatch, evaluate, predict', () => {
  it('trainOnBatch takes one step on exactly this batch and returns [loss, acc] before the step', async () => {
    const model = seedModel();
    model.compile({ optimizer: { className: 'SGD', config: { learningRate: 0.1 } }, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] });
    const x = x256.slice(0, 40);
    const y = y256.slice(0, 40);
    const [before, accBefore] = (model.evaluate(x, y) as Tensor[]).map((t) => t.dataSync()[0]);
    const [loss, acc] = (await model.trainOnBatch(x, y)) as number[];
    expect(loss).toBeCloseTo(before, 5);
    expect(Math.fround(acc)).toBe(accBefore);
    expect(model.iterations).toBe(1);
    const after = (model.evaluate(x, y) as Tensor[])[0].dataSync()[0];
    expect(after).toBeLessThan(before);
  });

  it('a loop of trainOnBatch calls, whatever their batch sizes, takes the steps fit takes on those batches', async () => {
    // trainOnBatch keeps its workspace between calls and grows it when a batch needs more of the tree.
    const sizes = [16, 16, 64, 8, 40];
    const byBatch = compiled();
    const byFit = compiled();
    let at = 0;
    for (const size of sizes) {
      const x = x256.slice(at, size);
      const y = y256.slice(at, size);
      at += size;
      const [loss] = (await byBatch.trainOnBatch(x, y)) as number[];
      const history = await byFit.fit(x, y, { batchSize: size, epochs: 1, shuffle: false });
      expect(loss, `loss of the ${size}-sample batch`).toBe(history.history.loss[0]);
      expect(bits(byBatch.params), `weights after the ${size}-sample batch`).toEqual(bits(byFit.params));
    }
    expect(byBatch.iterations).toBe(sizes.length);
    expect(byFit.iterations).toBe(sizes.length);
    // Calls not awaited in between take their steps in call order, each on its own batch.
    const together = compiled();
    const inOrder = compiled();
    const batches = [0, 24, 56].map((at, i) => [x256.slice(at, 24 + 8 * i), y256.slice(at, 24 + 8 * i)] as const);
    const losses = await Promise.all(batches.map(([x, y]) => together.trainOnBatch(x, y)));
    for (const [i, [x, y]] of batches.entries()) expect(await inOrder.trainOnBatch(x, y), `batch ${i}`).toEqual(losses[i]);
    expect(bits(together.params)).toEqual(bits(inOrder.params));

    // Beside a running fit, neither another fit nor trainOnBatch may start: both write the weights.
    const fitting = together.fit(x256, y256, { batchSize: 32, epochs: 1, maxSteps: 2 });
    await expect(together.fit(x256, y256, { maxSteps: 1 })).rejects.toMatchObject({ code: 'CNN_ERR_BUSY', message: expect.stringMatching(/^fit: this model is already training \(a fit is running\); await it/) });
    await expect(together.trainOnBatch(x256.slice(0, 8), y256.slice(0, 8))).rejects.toMatchObject({ code: 'CNN_ERR_BUSY' });
    await fitting;
    const queued = together.trainOnBatch(x256.slice(0, 8), y256.slice(0, 8));
    await expect(together.fit(x256, y256, { maxSteps: 1 })).rejects.toMatchObject({ code: 'CNN_ERR_BUSY', message: expect.stringContaining('(trainOnBatch is running)') });
    await queued;
    await together.fit(x256, y256, { batchSize: 32, epochs: 1, maxSteps: 1 });

    const err = await caught(() => byBatch.trainOnBatch(x256.slice(0, 0), y256.slice(0, 0)));
    expect(err).toMatchObject({ code: 'CNN_ERR_BAD_INPUT', message: expect.stringContaining('the batch is empty') });
  });

  it('evaluate returns a scalar loss, or [loss, acc] scalars with metrics, matching predict', () => {
    const model = compiled();
    const x = mnist.test.x.slice(0, 300);
    const y = mnist.test.y.slice(0, 300);
    const out = model.evaluate(x, y) as Tensor[];
    expect(out.map((t) => t.shape)).toEqual([[], []]);
    const probs = model.predict(x).dataSync();
    const labels = y.dataSync();
    let loss = 0;
    let correct = 0;
    for (let i = 0; i < 300; i++) {
      const row = Array.from(probs.subarray(i * 10, i * 10 + 10));
      loss -= Math.log(row[labels[i]]);
      if (row.indexOf(Math.max(...row)) === labels[i]) correct++;
    }
    expect(out[0].dataSync()[0]).toBeCloseTo(loss / 300, 5);
    expect(out[1].dataSync()[0]).toBe(Math.fround(correct / 300));
    const plain = seedModel();
    plain.compile({ optimizer: 'sgd', loss: 'sparse_categorical_crossentropy' });
    const s = plain.evaluate(x, y) as Tensor;
    expect(s.shape).toEqual([]);
    expect(s.dataSync()[0]).toBeCloseTo(out[0].dataSync()[0], 10);
  });

  it('predict gives [n, 10] probabilities, a single image gives [1, 10], and needs no compile', () => {
    const model = seedModel();
    const p = model.predict(mnist.test.x.slice(0, 300));
    expect(p.shape).toEqual([300, 10]);
    const data = p.dataSync() as Float32Array;
    for (let i = 0; i < 300; i++) expect(data.subarray(i * 10, i * 10 + 10).reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
    const one = model.predict(mnist.test.x.slice(7, 1).reshape([28, 28, 1]));
    expect(one.shape).toEqual([1, 10]);
    expect(Array.from(one.dataSync())).toEqual(Array.from(data.subarray(70, 80)));
  });
});

describe('errors say what was wrong', () => {
  it('bad input shapes', async () => {
    const model = compiled();
    const err = await caught(() => model.fit(tensor(new Float32Array(4 * 784), [4, 28, 28]), tensor([1, 2, 3, 4], [4], 'int32')));
    expect(err.code).toBe('CNN_ERR_BAD_SHAPE');
    expect(err.message).toBe('fit: x has shape [4, 28, 28] but the model expects [N, 28, 28, 1]');
    expect((await caught(() => model.predict(tensor(new Float32Array(10), [10])))).message).toMatch(/^predict: x has shape \[10\]/);
    expect((await caught(() => model.evaluate(x256, y256.slice(0, 10)))).message).toBe('evaluate: x has 256 samples but y has 10; they must match');
  });

  it('labels out of range or of the wrong kind', async () => {
    const model = compiled();
    const x = x256.slice(0, 4);
    let err = await caught(() => model.fit(x, tensor([1, 2, 10, 3], [4], 'int32')));
    expect(err.code).toBe('CNN_ERR_BAD_LABEL');
    expect(err.message).toBe('fit: label 10 at index 2 is not a class index in [0, 9] (the model has 10 outputs)');
    err = await caught(() => model.trainOnBatch(x, tensor([1, -1, 0, 3], [4], 'int32')));
    expect(err.code).toBe('CNN_ERR_BAD_LABEL');
    err = await caught(() => model.fit(x, tensor([0.5, 1, 2, 3], [4])));
    expect(err.code).toBe('CNN_ERR_BAD_LABEL');
    err = await caught(() => model.fit(x, tensor(new Float32Array(40), [4, 10])));
    expect(err.code).toBe('CNN_ERR_BAD_SHAPE');
    expect(err.message).toMatch(/for one-hot targets use 'categorical_crossentropy'/);
  });

  it('misuse of the model and its options', async () => {
    const model = seedModel();
    expect((await caught(() => model.fit(x256, y256))).code).toBe('CNN_ERR_NOT_COMPILED');
    expect((await caught(() => model.evaluate(x256, y256))).code).toBe('CNN_ERR_NOT_COMPILED');
    model.build();
    expect((await caught(() => model.add(layers.flatten()))).code).toBe('CNN_ERR_MODEL_BUILT');
    expect((await caught(() => new Sequential().add(layers.dense({ units: 3 })))).code).toBe('CNN_ERR_NO_INPUT_SHAPE');
    expect((await caught(() => new Sequential().build())).code).toBe('CNN_ERR_EMPTY_MODEL');
    const c = compiled();
    let err = await caught(() => c.fit(x256, y256, { batchsize: 32 } as never));
    expect([err.code, err.message]).toEqual(['CNN_ERR_BAD_CONFIG', expect.stringMatching(/^fit: unknown option 'batchsize'/)]);
    err = await caught(() => c.fit(x256, y256, { validationSplit: 1.5 }));
    expect(err.message).toMatch(/validationSplit must be in \(0, 1\)/);
    err = await caught(() => c.fit(x256, y256, { batchSize: 0 }));
    expect(err.message).toMatch(/fit.batchSize must be a positive integer, got 0/);
    err = await caught(() => c.compile({ optimizer: 'adam', loss: 'mse', metrics: ['precision'] }));
    expect(err.message).toMatch(/Unknown metric "precision"/);
    err = await caught(() => new Sequential({ layers: [layers.dense({ units: 2, inputShape: [3, 4] })] }).build());
    expect(err.message).toMatch(/^Layer 0 \(dense\) with input shape \[3, 4\]: dense expects flat inputs .*add layers.flatten\(\) before it$/);
  });

  it('layer options: snake_case and camelCase both accepted, typos and unknown names listed', async () => {
    const a = layers.conv2d({ filters: 2, kernel_size: 3, kernel_initializer: 'glorot_uniform', activation: 'relu' } as never);
    const b = layers.conv2d({ filters: 2, kernelSize: 3, kernelInitializer: 'glorotUniform', activation: 'relu' });
    expect(a.getLayerConfig()).toEqual(b.getLayerConfig());
    expect(layers.conv2d({ filters: 1, kernelSize: 1, kernelInitializer: 'he_normal' }).kernelInitializer).toBe('heNormal');
    let err = await caught(() => layers.conv2d({ filters: 2, kernal_size: 3 } as never));
    expect([err.code, err.message]).toEqual(['CNN_ERR_BAD_CONFIG', expect.stringMatching(/^conv2d: unknown option 'kernal_size'. Valid options: .*kernelSize/)]);
    err = await caught(() => layers.dense({ units: 2, activation: 'gelu' }));
    expect(err.message).toBe("Unknown activation \"gelu\". Valid activations: 'linear', 'relu', 'sigmoid', 'tanh', 'softmax' (camelCase or snake_case).");
    err = await caught(() => layers.dense({ units: 2, kernelInitializer: 'orthogonal' }));
    expect(err.message).toMatch(/Valid initializers: 'zeros', 'ones', 'glorot_uniform'/);
    err = await caught(() => layers.maxPooling2d({ padding: 'full' as never }));
    expect(err.message).toBe("maxPooling2d.padding must be 'valid' or 'same', got \"full\"");
  });
});
