/* save(dir) / Sequential.load(dir): round trip, resuming training, and damaged folders. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasets, type Dataset } from '../data/datasets.js';
import { layers } from '../layers/index.js';
import { seed as seedModel } from '../models/builtin.js';
import type { Tensor } from '../tensor.js';
import { Sequential } from './sequential.js';
import { caughtAsync as caught } from '../testing/caught.js';

const root = mkdtempSync(join(tmpdir(), 'cnn-io-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `m${dirs++}`);

let mnist: Dataset;
let x: Tensor;
let y: Tensor;
beforeAll(async () => {
  mnist = await datasets.mnist();
  x = mnist.train.x.slice(0, 256);
  y = mnist.train.y.slice(0, 256);
});

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));

/** A small convnet with dropout, so resuming must also restore the step that keys the masks. */
function dropoutModel(): Sequential {
  const model = new Sequential({
    name: 'small',
    seed: 4,
    layers: [
      layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }),
      layers.maxPooling2d({ poolSize: 2 }),
      layers.flatten(),
      layers.dropout({ rate: 0.5 }),
      layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] });
  return model;
}

function seedCompiled(): Sequential {
  const model = seedModel();
  model.compile({ optimizer: { className: 'SGD', config: { learningRate: 0.05, momentum: 0.9, nesterov: true } }, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] });
  return model;
}

describe('save / load round trip', () => {
  it('restores weights bitwise, predictions, the training config and the optimizer state', async () => {
    const model = dropoutModel();
    await model.fit(x, y, { batchSize: 32, epochs: 1 });
    const dir = freshDir();
    await model.save(dir);
    const loaded = await Sequential.load(dir);
    expect(loaded.name).toBe('small');
    expect(loaded.seed).toBe(4);
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    expect(loaded.toJSON()).toEqual(model.toJSON());
    expect(bits(loaded.params)).toEqual(bits(model.params));
    const probe = mnist.test.x.slice(0, 64);
    expect(Array.from(loaded.predict(probe).dataSync())).toEqual(Array.from(model.predict(probe).dataSync()));
    expect(loaded.isCompiled).toBe(true);
    expect(loaded.loss.name).toBe('sparseCategoricalCrossentropy');
    expect(loaded.metricNames).toEqual(['acc']);
    expect(loaded.optimizer.className).toBe('Adam');
    expect(loaded.optimizer.getConfig()).toEqual(model.optimizer.getConfig());
    expect(loaded.iterations).toBe(8);
    expect(loaded.optimizerSlots.map(bits)).toEqual(model.optimizerSlots.map(bits));
    expect(model.optimizerSlots[1].some((v) => v !== 0)).toBe(true);
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    expect(json.weightsManifest[0].weights.map((w: { name: string; shape: number[] }) => [w.name, w.shape])).toEqual([
      ['conv2d/kernel', [3, 3, 1, 4]], ['conv2d/bias', [4]], ['dense/kernel', [676, 10]], ['dense/bias', [10]],
    ]);
  });

  it('an uncompiled model saves and loads its weights only', async () => {
    const model = seedModel({ seed: 9 });
    const dir = freshDir();
    await model.save(dir);
    const loaded = await Sequential.load(dir);
    expect(loaded.isCompiled).toBe(false);
    expect(bits(loaded.params)).toEqual(bits(model.params));
  });

  for (const [name, make] of [['seed model, SGD with nesterov momentum', seedCompiled], ['convnet with dropout, Adam', dropoutModel]] as const) {
    it(`loading a saved model and continuing training gives the weights of never stopping (${name})`, async () => {
      const straight = make();
      await straight.fit(x, y, { batchSize: 32, epochs: 2 });

      const first = make();
      await first.fit(x, y, { batchSize: 32, epochs: 1 });
      const dir = freshDir();
      await first.save(dir);
      const resumed = await Sequential.load(dir);
      const history = await resumed.fit(x, y, { batchSize: 32, epochs: 2, initialEpoch: 1 });
      expect(history.epoch).toEqual([1]);
      expect(resumed.iterations).toBe(16);
      expect(bits(resumed.params)).toEqual(bits(straight.params));
      expect(resumed.optimizerSlots.map(bits)).toEqual(straight.optimizerSlots.map(bits));
    });
  }

  it('stopping mid-epoch (maxSteps) and resuming with initialBatch also gives the weights of never stopping', async () => {
    const straight = dropoutModel();
    await straight.fit(x, y, { batchSize: 32, epochs: 2 });
    const first = dropoutModel();
    await first.fit(x, y, { batchSize: 32, epochs: 2, maxSteps: 5 });
    expect(first.iterations).toBe(5);
    const dir = freshDir();
    await first.save(dir);
    const resumed = await Sequential.load(dir);
    await resumed.fit(x, y, { batchSize: 32, epochs: 2, initialEpoch: 0, initialBatch: 5 });
    expect(resumed.iterations).toBe(16);
    expect(bits(resumed.params)).toEqual(bits(straight.params));
  });

  it('without the optimizer state, a resumed run differs (so the test above can fail)', async () => {
    const straight = dropoutModel();
    await straight.fit(x, y, { batchSize: 32, epochs: 2 });
    const first = dropoutModel();
    await first.fit(x, y, { batchSize: 32, epochs: 1 });
    const dir = freshDir();
    await first.save(dir, { includeOptimizer: false });
    const resumed = await Sequential.load(dir);
    expect(resumed.iterations).toBe(0);
    await resumed.fit(x, y, { batchSize: 32, epochs: 2, initialEpoch: 1 });
    expect(bits(resumed.params)).not.toEqual(bits(straight.params));
  });
});

describe('damaged folders give clear errors', () => {
  let dir: string;
  beforeAll(async () => {
    dir = freshDir();
    const model = seedCompiled();
    await model.fit(x.slice(0, 64), y.slice(0, 64), { batchSize: 32, epochs: 1 });
    await model.save(dir);
  });

  function damaged(edit: (d: string) => void): string {
    const copy = freshDir();
    mkdirSync(copy);
    for (const f of ['model.json', 'weights.bin', 'optimizer.bin']) writeFileSync(join(copy, f), readFileSync(join(dir, f)));
    edit(copy);
    return copy;
  }

  it('a corrupted weights.bin fails its checksum', async () => {
    const copy = damaged((d) => {
      const w = readFileSync(join(d, 'weights.bin'));
      w[100] ^= 0x40;
      writeFileSync(join(d, 'weights.bin'), w);
    });
    const err = await caught(() => Sequential.load(copy));
    expect(err.code).toBe('CNN_ERR_BAD_MODEL_FILE');
    expect(err.message).toBe(`${join(copy, 'weights.bin')}: the weights file does not match the checksum in model.json; the file is corrupt`);
  });

  it('a truncated weights.bin or optimizer.bin names the expected size', async () => {
    let copy = damaged((d) => writeFileSync(join(d, 'weights.bin'), readFileSync(join(d, 'weights.bin')).subarray(0, 1000)));
    let err = await caught(() => Sequential.load(copy));
    expect(err.code).toBe('CNN_ERR_BAD_MODEL_FILE');
    expect(err.message).toMatch(/weights\.bin: the weights file should be 40720 bytes for this model, found 1000; the file is truncated or belongs to another model$/);
    copy = damaged((d) => writeFileSync(join(d, 'optimizer.bin'), readFileSync(join(d, 'optimizer.bin')).subarray(0, 8)));
    err = await caught(() => Sequential.load(copy));
    expect(err.message).toMatch(/optimizer\.bin: the optimizer state should be 40720 bytes/);
  });

  it('a missing folder, a missing weights file, or a foreign model.json', async () => {
    let err = await caught(() => Sequential.load(join(root, 'nowhere')));
    expect(err.code).toBe('CNN_ERR_FILE_NOT_FOUND');
    expect(err.message).toMatch(/model\.json: cannot load the model .*expected a folder written by model\.save\(\)/);
    let copy = damaged((d) => rmSync(join(d, 'weights.bin')));
    err = await caught(() => Sequential.load(copy));
    expect(err.code).toBe('CNN_ERR_BAD_MODEL_FILE');
    expect(err.message).toMatch(/weights\.bin: cannot read the weights file/);
    copy = damaged((d) => writeFileSync(join(d, 'model.json'), '{"format": "keras"}'));
    err = await caught(() => Sequential.load(copy));
    expect(err.message).toMatch(/not a cnn-layers-model v1 file/);
    copy = damaged((d) => writeFileSync(join(d, 'model.json'), '{"format": '));
    expect((await caught(() => Sequential.load(copy))).code).toBe('CNN_ERR_BAD_MODEL_FILE');
  });
});
