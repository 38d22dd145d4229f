import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CnnError, Sequential, Tensor, losses, models, optimizers, type CompileArgs, type Dataset } from '@cnn/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCnn, tempDir } from '../cli-helpers.js';
import { mnist } from '../helpers.js';

/*
 * Interop with the real @tensorflow/tfjs (pure JS, cpu backend). Plain @tensorflow/tfjs has no
 * file:// handler (that is tfjs-node's), so the tests read and write files through IOHandlers built
 * the way tfjs-node's file system handler is: tf.io.getModelArtifactsForJSON for loading and
 * tf.io.withSaveHandler for saving, with model.json + weights.bin.
 */

/** Max abs difference allowed between our outputs and TF.js' (the issue's bar). */
const TOLERANCE = 1e-5;
const SAMPLES = 100;

/** Reads DIR/model.json and its weight files, as tfjs-node's file:// loader does. */
function fileLoader(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const files = manifest.flatMap((group) => group.paths.map((p) => readFileSync(join(dirname(modelJsonPath), p))));
        const bytes = Buffer.concat(files);
        return [tf.io.getWeightSpecs(manifest), bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)];
      });
    },
  };
}

/** Writes DIR/model.json + DIR/weights.bin, as tfjs-node's file:// saver does. */
function fileSaver(dir: string): tf.io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'weights.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer));
    const json: tf.io.ModelJSON = {
      modelTopology: artifacts.modelTopology as object,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: [{ paths: ['./weights.bin'], weights: artifacts.weightSpecs! }],
    };
    if (artifacts.trainingConfig) json.trainingConfig = artifacts.trainingConfig;
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

function tfPredict(model: tf.LayersModel, x: Tensor): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor(x.dataSync(), [...x.shape])) as tf.Tensor).dataSync() as Float32Array);
}

/** A TF.js model of every supported layer kind and setting, trained one short epoch so biases are not zero. */
async function trainedTfjsModel(data: Dataset): Promise<tf.Sequential> {
  const m = tf.sequential({ name: 'from_tfjs' });
  m.add(tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: [3, 2], strides: 2, padding: 'same', useBias: false, kernelInitializer: 'heNormal' }));
  m.add(tf.layers.activation({ activation: 'tanh' }));
  m.add(tf.layers.averagePooling2d({ poolSize: 2, padding: 'same' }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dropout({ rate: 0.25 }));
  m.add(tf.layers.dense({ units: 16, activation: 'sigmoid', kernelInitializer: 'glorotUniform' }));
  m.add(tf.layers.dense({ units: 10 }));
  m.add(tf.layers.activation({ activation: 'softmax' }));
  m.compile({ optimizer: tf.train.adam(0.002), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const x = data.train.x.slice(0, 64);
  await m.fit(tf.tensor(x.dataSync(), [...x.shape]), tf.tensor(Float32Array.from(data.train.y.slice(0, 64).dataSync())), { batchSize: 32, epochs: 1, verbose: 0 });
  return m;
}

describe('TF.js interop', () => {
  let data: Dataset;
  let xTest: Tensor;
  const observed: Record<string, number> = {};

  beforeAll(async () => {
    await tf.setBackend('cpu');
    data = await mnist();
    xTest = data.test.x.slice(0, SAMPLES);
  });

  it.each(['lenet5', 'seed', 'convnet'] as const)('model.save("tfjs://") of a trained %s loads in tf.loadLayersModel with the same predictions', async (name) => {
    const model = models[name]({ seed: 3 });
    model.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] });
    await model.fit(data.train.x, data.train.y, { batchSize: 32, epochs: 1, maxSteps: 5 });
    const dir = join(tempDir(`tfjs-export-${name}`), 'model');
    await model.save(`tfjs://${dir}`);

    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    expect(json).toMatchObject({ format: 'layers-model', generatedBy: '@cnn/core', convertedBy: null });
    expect(json.modelTopology).toMatchObject({ class_name: 'Sequential', keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' });
    expect(json.modelTopology.config.layers[0].config.batch_input_shape).toEqual([null, 28, 28, 1]);
    expect(json.weightsManifest[0].weights.map((w: { name: string }) => w.name)).toEqual(model.network.params.map((p) => p.fullName));
    expect(new Uint8Array(readFileSync(join(dir, 'weights.bin')))).toEqual(new Uint8Array(model.params.buffer, model.params.byteOffset, model.params.byteLength));

    const loaded = await tf.loadLayersModel(fileLoader(join(dir, 'model.json')));
    // Same layers, shapes and parameter counts, as TF.js' own summary reports them.
    expect(loaded.countParams()).toBe(model.countParams());
    expect(loaded.layers.map((l) => [l.name, l.getClassName(), l.outputShape, l.countParams()])).toEqual(
      model.network.layers.map((l, i) => [l.name, l.className, [null, ...l.outputShape], model.network.layerParams[i].reduce((n, p) => n + p.length, 0)]));
    const summary: string[] = [];
    loaded.summary(undefined, undefined, (line) => summary.push(line));
    expect(summary).toContain(`Total params: ${model.countParams()}`);
    // Our topology is the one TF.js itself writes for this model.
    let resaved: tf.io.ModelArtifacts | undefined;
    await loaded.save(tf.io.withSaveHandler(async (a) => {
      resaved = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }), { includeOptimizer: true });
    expect(resaved!.modelTopology).toEqual(json.modelTopology);
    expect(resaved!.weightSpecs!.filter((w) => w.group !== 'optimizer')).toEqual(json.weightsManifest[0].weights);
    expect(resaved!.trainingConfig).toEqual(json.trainingConfig);
    // The training config came along: TF.js compiled the model with our loss and optimizer.
    expect(loaded.optimizer.getClassName()).toBe('Adam');
    expect(loaded.loss).toBe('sparseCategoricalCrossentropy');

    const diff = maxAbsDiff(model.predict(xTest).dataSync(), tfPredict(loaded, xTest));
    observed[`export ${name}`] = diff;
    expect(diff).toBeLessThan(TOLERANCE);
    // Back through tfjs://: the same layers, bit-identical weights, the training config recompiled
    // (the optimizer's moments and step count are not carried).
    const back = await Sequential.load(`tfjs://${dir}`);
    expect(back.toJSON()).toEqual(model.toJSON());
    expect(Buffer.from(back.params.buffer, back.params.byteOffset, back.params.byteLength).equals(Buffer.from(model.params.buffer, model.params.byteOffset, model.params.byteLength))).toBe(true);
    expect(back.optimizer.getConfig()).toEqual(model.optimizer.getConfig());
    expect(back.iterations).toBe(0);

    const yTest = data.test.y.slice(0, SAMPLES);
    const [ourLoss] = model.evaluate(xTest, yTest) as Tensor[];
    const [theirLoss] = loaded.evaluate(tf.tensor(xTest.dataSync(), [...xTest.shape]), tf.tensor(Float32Array.from(yTest.dataSync()))) as tf.Scalar[];
    expect(Math.abs(ourLoss.dataSync()[0] - theirLoss.dataSync()[0])).toBeLessThan(TOLERANCE);
  });

  it('carries the training config both ways for every optimizer and loss TF.js has', async () => {
    const cases: [CompileArgs, string, Record<string, unknown>][] = [
      [{ optimizer: optimizers.sgd(0.05), loss: 'categorical_crossentropy' }, 'SGD', { learningRate: 0.05 }],
      [{ optimizer: optimizers.sgd({ learningRate: 0.01, momentum: 0.9, nesterov: true }), loss: 'mse' }, 'Momentum', { learningRate: 0.01, momentum: 0.9, useNesterov: true }],
      [{ optimizer: optimizers.rmsprop({ learningRate: 0.002, rho: 0.8, momentum: 0.5, centered: true }), loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] },
        'RMSProp', { learningRate: 0.002, decay: 0.8, momentum: 0.5, epsilon: 1e-7, centered: true }],
    ];
    const root = tempDir('tfjs-training-config');
    for (const [i, [args, className, config]] of cases.entries()) {
      const model = models.seed();
      model.compile(args);
      await model.save(`tfjs://${join(root, String(i))}`);
      const loaded = await tf.loadLayersModel(fileLoader(join(root, String(i), 'model.json')));
      expect(loaded.optimizer.getClassName()).toBe(className);
      expect(loaded.optimizer.getConfig()).toEqual(config);
      const back = await Sequential.load(`tfjs://${join(root, String(i))}`);
      expect(back.optimizer.getConfig()).toEqual(model.optimizer.getConfig());
      expect(back.loss.getConfig()).toEqual(model.loss.getConfig());
      expect(back.metricNames).toEqual(model.metricNames);
      const uncompiled = await Sequential.load(`tfjs://${join(root, String(i))}`, { compile: false });
      expect(uncompiled.isCompiled).toBe(false);
    }
    // A from_logits loss has no TF.js name: the model is written without a training config.
    const logits = models.seed();
    logits.compile({ optimizer: 'adam', loss: losses.sparseCategoricalCrossentropy({ fromLogits: true }) });
    await logits.save(`tfjs://${join(root, 'logits')}`);
    expect(JSON.parse(readFileSync(join(root, 'logits', 'model.json'), 'utf8')).trainingConfig).toBeUndefined();
    expect((await Sequential.load(`tfjs://${join(root, 'logits')}`)).isCompiled).toBe(false);
  });

  it('a TF.js Sequential model saved by TF.js loads with Sequential.load("tfjs://"), predicts the same and keeps training', async () => {
    const tfModel = await trainedTfjsModel(data);
    const dir = join(tempDir('tfjs-import'), 'model');
    await tfModel.save(fileSaver(dir), { includeOptimizer: true });
    // includeOptimizer also wrote Adam's moments (group 'optimizer'), which the import skips.
    const manifest = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')).weightsManifest[0].weights as { group?: string }[];
    expect(manifest.some((w) => w.group === 'optimizer')).toBe(true);

    const model = await Sequential.load(`tfjs://${dir}`);
    expect(model.name).toBe('from_tfjs');
    expect(model.layers.map((l) => l.name)).toEqual(tfModel.layers.map((l) => l.name));
    expect(model.countParams()).toBe(tfModel.countParams());
    expect(model.isCompiled).toBe(true);
    expect(model.optimizer.getConfig()).toMatchObject({ learningRate: 0.002, beta1: 0.9, beta2: 0.999 });
    expect(model.loss.name).toBe('sparseCategoricalCrossentropy');
    expect(model.metricNames).toEqual(['acc']);
    const diff = maxAbsDiff(model.predict(xTest).dataSync(), tfPredict(tfModel, xTest));
    observed['import from TF.js'] = diff;
    expect(diff).toBeLessThan(TOLERANCE);

    // Continues training: 10 steps of Adam lower the loss on the batches it saw.
    const x = data.train.x.slice(0, 320);
    const y = data.train.y.slice(0, 320);
    const before = model.evaluateStats(x, y);
    const weights = model.params.slice();
    await model.fit(x, y, { batchSize: 32, epochs: 1, shuffle: false });
    expect(model.iterations).toBe(10);
    const after = model.evaluateStats(x, y);
    expect(after.lossSum / after.count).toBeLessThan(before.lossSum / before.count);
    expect(maxAbsDiff(model.params, weights)).toBeGreaterThan(1e-4);

    // And goes back: the trained model saved as tfjs:// is the same function in TF.js.
    const back = join(dirname(dir), 'back');
    await model.save(`tfjs://${back}`);
    const reloaded = await tf.loadLayersModel(fileLoader(join(back, 'model.json')));
    const backDiff = maxAbsDiff(model.predict(xTest).dataSync(), tfPredict(reloaded, xTest));
    observed['import, train, export'] = backDiff;
    expect(backDiff).toBeLessThan(TOLERANCE);
  });

  it('reads the Keras converter layout: InputLayer, model_config, sharded weights, training_config in the topology', async () => {
    const tfModel = await trainedTfjsModel(data);
    const dir = join(tempDir('tfjs-keras'), 'model');
    await tfModel.save(fileSaver(dir));
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const layers = json.modelTopology.config.layers;
    const { batch_input_shape: batchInputShape, ...first } = layers[0].config;
    layers[0].config = first;
    layers.unshift({ class_name: 'InputLayer', config: { batch_input_shape: batchInputShape, dtype: 'float32', sparse: false, ragged: false, name: 'conv2d_input' } });
    const weights = readFileSync(join(dir, 'weights.bin'));
    const cut = 1234; // not a float boundary: shards are one byte stream
    writeFileSync(join(dir, 'group1-shard1of2.bin'), weights.subarray(0, cut));
    writeFileSync(join(dir, 'group1-shard2of2.bin'), weights.subarray(cut));
    const keras = {
      format: 'layers-model',
      generatedBy: 'keras v2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      modelTopology: {
        keras_version: '2.15.0',
        backend: 'tensorflow',
        model_config: json.modelTopology,
        training_config: {
          loss: 'sparse_categorical_crossentropy',
          metrics: ['accuracy'],
          weighted_metrics: null,
          loss_weights: null,
          optimizer_config: { class_name: 'Adam', config: { name: 'Adam', learning_rate: 0.0005, decay: 0.0, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, amsgrad: false } },
        },
      },
      weightsManifest: [{ paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: json.weightsManifest[0].weights }],
    };
    writeFileSync(join(dir, 'model.json'), JSON.stringify(keras));

    const model = await Sequential.load(`tfjs://${join(dir, 'model.json')}`);
    expect(model.inputShape).toEqual([28, 28, 1]);
    expect(model.layers).toHaveLength(tfModel.layers.length);
    expect(model.optimizer.getConfig()).toMatchObject({ learningRate: 0.0005 });
    const viaTfjs = await tf.loadLayersModel(fileLoader(join(dir, 'model.json')));
    const diff = maxAbsDiff(model.predict(xTest).dataSync(), tfPredict(viaTfjs, xTest));
    observed['Keras layout'] = diff;
    expect(diff).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(tfPredict(viaTfjs, xTest), tfPredict(tfModel, xTest))).toBe(0);
  });

  it('refuses TF.js models it cannot compute, saying what is supported', async () => {
    const cases: [string, (m: tf.Sequential) => void, RegExp][] = [
      ['batchnorm', (m) => {
        m.add(tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [8, 8, 1] }));
        m.add(tf.layers.batchNormalization());
      }, /layer 1 'batch_normalization\w*' \(BatchNormalization\): "BatchNormalization" layers are not supported\. Supported TF\.js\/Keras layers: InputLayer, Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Dense, Activation, Dropout/],
      ['channels_first', (m) => m.add(tf.layers.conv2d({ filters: 2, kernelSize: 3, dataFormat: 'channelsFirst', inputShape: [1, 8, 8] })),
        /data_format "channels_first" is not supported; only 'channels_last' \(NHWC\)/],
      ['dilation', (m) => m.add(tf.layers.conv2d({ filters: 2, kernelSize: 3, dilationRate: 2, inputShape: [8, 8, 1] })),
        /dilation_rate \[2,2\] is not supported; only 1/],
      ['activation', (m) => m.add(tf.layers.dense({ units: 2, activation: 'elu', inputShape: [4] })),
        /activation "elu" is not supported\. Supported activations: linear, relu, sigmoid, tanh, softmax/],
      ['regularizer', (m) => m.add(tf.layers.dense({ units: 2, kernelRegularizer: 'l1l2', inputShape: [4] })),
        /kernel_regularizer .* is not supported \(no regularizers or constraints\)/],
      ['frozen', (m) => m.add(tf.layers.dense({ units: 2, trainable: false, inputShape: [4] })),
        /trainable: false \(a frozen layer\) is not supported/],
    ];
    const root = tempDir('tfjs-unsupported');
    for (const [name, build, message] of cases) {
      const m = tf.sequential();
      build(m);
      await m.save(fileSaver(join(root, name)));
      const err = await Sequential.load(`tfjs://${join(root, name)}`).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(CnnError);
      expect((err as CnnError).code, name).toBe('CNN_ERR_UNSUPPORTED_TFJS');
      expect((err as CnnError).message, name).toMatch(message);
    }
    // Our own folder format is not a TF.js one, and says so both ways.
    const ours = join(root, 'ours');
    await models.seed().save(ours);
    await expect(Sequential.load(`tfjs://${ours}`)).rejects.toThrow(/this library's own format; load it without the tfjs:\/\/ prefix/);
    await expect(Sequential.load(join(root, 'batchnorm'))).rejects.toThrow(/this is a TF\.js layers model; load it with Sequential\.load\('tfjs:\/\//);
  });

  it('cnn export DIR --format tfjs writes a run folder as a TF.js model', async () => {
    const root = tempDir('tfjs-cli');
    const run = join(root, 'run');
    const trained = await runCnn(['train', '--model', 'seed', '--max-steps', '20', '--threads', '1', '--out', run]);
    expect(trained.code, trained.stderr).toBe(0);
    const out = join(root, 'tfjs');
    const r = await runCnn(['export', run, '--format', 'tfjs', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Wrote seed \(10,180 params\) as a TF\.js layers model to .*tfjs: model\.json, weights\.bin/);

    const model = await Sequential.load(run);
    const loaded = await tf.loadLayersModel(fileLoader(join(out, 'model.json')));
    const diff = maxAbsDiff(model.predict(xTest).dataSync(), tfPredict(loaded, xTest));
    observed['cnn export'] = diff;
    expect(diff).toBeLessThan(TOLERANCE);

    const badFormat = await runCnn(['export', run, '--format', 'onnx', '--out', out]);
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toMatch(/argument 'onnx' is invalid\. Allowed choices are tfjs/);
    const missing = await runCnn(['export', join(root, 'nothing'), '--out', out]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot load the model/);
    console.log('max |ours - TF.js| over 100 MNIST test images:', JSON.stringify(observed));
  });
});
