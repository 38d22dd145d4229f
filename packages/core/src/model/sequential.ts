import { DEFAULTS } from '../defaults.js';
import { CnnError, check } from '../errors.js';
import { layerFromConfig } from '../layers/index.js';
import type { Layer } from '../layers/layer.js';
import { type Loss, resolveLoss } from '../losses/index.js';
import { type HeapArena, heapArena } from '../memory/process-heap.js';
import { normalizeConfig } from '../names.js';
import type { Optimizer } from '../optimizers/optimizer.js';
import { resolveOptimizer } from '../optimizers/index.js';
import { type Shape, shapeToString, sameShape } from '../shape.js';
import { Tensor, scalar } from '../tensor.js';
import { validateInputs, validateTargets } from '../train/batch.js';
import type { Callbacks } from '../train/callbacks.js';
import type { History } from '../train/callbacks.js';
import { fitLoop, statsToLogs, type TrainableState } from '../train/fit.js';
import { canFuseSoftmax, type ShardStats } from '../train/gradient.js';
import { evaluateRows, forwardRows } from '../train/inference.js';
import { SingleThreadStrategy, singleThread } from '../train/single-thread.js';
import type { Strategy } from '../train/strategy.js';
import { Network } from './network.js';
import { summaryLines } from './summary.js';
import type { SaveOptions } from './io.js';
import { Workspace } from './workspace.js';

export interface SequentialArgs {
  name?: string;
  layers?: Layer[];
  /** Seed of the initial weights (and the default seed of fit). */
  seed?: number;
}

export interface CompileArgs {
  optimizer: string | Optimizer | { className: string; config?: Record<string, unknown> };
  loss: string | Loss | { className: string; config?: Record<string, unknown> };
  metrics?: string[];
}

export interface FitArgs {
  batchSize?: number;
  epochs?: number;
  initialEpoch?: number;
  /** Batch of initialEpoch to start at, to resume mid-epoch (with the optimizer state restored). */
  initialBatch?: number;
  shuffle?: boolean;
  seed?: number;
  validationData?: [Tensor, Tensor];
  validationSplit?: number;
  callbacks?: Callbacks | Callbacks[];
  /** 0: silent (default), 1: one line per epoch on the console. */
  verbose?: 0 | 1;
  /** Samples per leaf of the reduction tree; part of what a step computes (see DEFAULTS). */
  microBatchSize?: number;
  /** Stop after this many optimizer steps in total. */
  maxSteps?: number;
  /** Where the arithmetic runs (default: this thread); fit closes it when done. */
  strategy?: Strategy;
}

export interface PredictArgs {
  batchSize?: number;
}

const FIT_KEYS = ['batchSize', 'epochs', 'initialEpoch', 'initialBatch', 'shuffle', 'seed', 'validationData', 'validationSplit', 'callbacks', 'verbose', 'microBatchSize', 'maxSteps', 'strategy', 'stepsPerEpoch', 'yieldEvery'];

interface Compiled {
  optimizer: Optimizer;
  loss: Loss;
  metrics: string[];
  fuseSoftmax: boolean;
  slots: Float32Array[];
  arena: HeapArena;
}

const METRICS: Record<string, string> = { accuracy: 'acc', acc: 'acc' };

/**
 * A linear stack of layers with TF.js' and Keras' API. All parameters live in one flat buffer (a
 * SharedArrayBuffer, so worker threads can read them in place); each layer sees views into it.
 */
export class Sequential {
  readonly name: string;
  readonly seed: number;
  /** Set to true from a callback to end fit after the current batch (TF.js). */
  stopTraining = false;
  /** Optimizer steps taken so far; saved and restored with the optimizer state. */
  iterations = 0;
  readonly #layers: Layer[] = [];
  #network: Network | undefined;
  #params: Float32Array | undefined;
  #compiled: Compiled | undefined;
  #inference: Workspace | undefined;
  /** trainOnBatch's strategy, kept so its workspace lives as long as the model. */
  #batchStrategy: SingleThreadStrategy | undefined;
  /** The last trainOnBatch step queued (settled, never rejected): the next one starts after it. */
  #batchQueue: Promise<unknown> = Promise.resolve();
  /** trainOnBatch steps queued and not yet settled, and whether a fit is running (both write the weights). */
  #batchesPending = 0;
  #fitting = false;

  constructor(args: SequentialArgs = {}) {
    const a = normalizeConfig<SequentialArgs>('Sequential', args, ['name', 'layers', 'seed']);
    this.name = a.name ?? 'sequential';
    this.seed = a.seed ?? DEFAULTS.seed;
    check(Number.isSafeInteger(this.seed) && this.seed >= 0, 'CNN_ERR_BAD_CONFIG', () => `seed must be a non-negative integer, got ${args.seed}`);
    for (const layer of a.layers ?? []) this.add(layer);
  }

  add(layer: Layer): void {
    check(!this.#network, 'CNN_ERR_MODEL_BUILT', () => 'Cannot add layers to a model that is already built (summary, compile or fit ran); create a new Sequential');
    check(layer && typeof layer === 'object' && 'forward' in layer, 'CNN_ERR_BAD_CONFIG', () => `add expects a layer (e.g. layers.dense({ units: 10 })), got ${String(layer)}`);
    if (this.#layers.length === 0 && !layer.declaredInputShape) {
      throw new CnnError('CNN_ERR_NO_INPUT_SHAPE', `The first layer needs an inputShape, e.g. layers.${layer.defaultName === 'conv2d' ? 'conv2d({ ..., inputShape: [28, 28, 1] })' : 'dense({ ..., inputShape: [784] })'}`);
    }
    this.#layers.push(layer);
  }

  get layers(): readonly Layer[] {
    return this.#layers;
  }

  /** The built network (layers with shapes and the parameter layout); builds on first use. */
  get network(): Network {
    if (!this.#network) this.build();
    return this.#network!;
  }

  /** The one flat parameter buffer (SharedArrayBuffer-backed). */
  get params(): Float32Array {
    if (!this.#params) this.build();
    return this.#params!;
  }

  get inputShape(): Shape {
    return this.network.inputShape;
  }

  get outputShape(): Shape {
    return this.network.outputShape;
  }

  countParams(): number {
    return this.network.paramCount;
  }

  /** Fixes shapes, lays out the parameter buffer and initializes it from the seed. */
  build(): void {
    if (this.#network) return;
    check(this.#layers.length > 0, 'CNN_ERR_EMPTY_MODEL', () => 'The model has no layers; add some with model.add(...)');
    const network = new Network(this.#layers, this.#layers[0].declaredInputShape!);
    // In the kernel heap, shared with worker threads, freed when the model is collected.
    const params = heapArena(network.paramCount * 4).releaseWith(this).f32(network.paramCount, 'params');
    network.initialize(params, this.seed);
    this.#network = network;
    this.#params = params;
  }

  compile(args: CompileArgs): void {
    const a = normalizeConfig<CompileArgs>('compile', args, ['optimizer', 'loss', 'metrics']);
    const network = this.network;
    const loss = resolveLoss(a.loss);
    const optimizer = resolveOptimizer(a.optimizer);
    const metrics = (a.metrics ?? []).map((m) => {
      const key = typeof m === 'string' ? METRICS[m] : undefined;
      if (!key) throw new CnnError('CNN_ERR_UNKNOWN_NAME', `Unknown metric ${JSON.stringify(m)}. Valid metrics: 'accuracy' ('acc').`);
      return key;
    });
    if (!loss.sparseTargets && loss.name !== 'meanSquaredError' && network.outputSize < 2) {
      throw new CnnError('CNN_ERR_BAD_CONFIG', `${loss.name} needs at least 2 outputs, the model has ${network.outputSize}`);
    }
    const fuseSoftmax = canFuseSoftmax(loss, network.layers[network.layers.length - 1].finalActivation);
    // In the heap like the parameters, so worker threads apply the update to their ranges in place.
    this.#compiled?.arena.release();
    const arena = heapArena(Math.max(1, optimizer.slotNames.length) * (network.paramCount * 4 + 64)).releaseWith(this);
    const slots = optimizer.slotNames.map((s) => arena.f32(network.paramCount, `optimizer/${s}`));
    this.#compiled = { optimizer, loss, metrics, fuseSoftmax, slots, arena };
    this.iterations = 0;
  }

  get optimizer(): Optimizer {
    return this.#requireCompiled('optimizer').optimizer;
  }

  get loss(): Loss {
    return this.#requireCompiled('loss').loss;
  }

  /** Optimizer state buffers (Adam: m, v), in the parameter layout. */
  get optimizerSlots(): readonly Float32Array[] {
    return this.#requireCompiled('optimizerSlots').slots;
  }

  /** Whether training fuses the final softmax into the loss. */
  get fusesSoftmax(): boolean {
    return this.#requireCompiled('fusesSoftmax').fuseSoftmax;
  }

  /** Metric keys as logged ('acc'). */
  get metricNames(): string[] {
    return [...(this.#compiled?.metrics ?? [])];
  }

  get isCompiled(): boolean {
    return this.#compiled !== undefined;
  }

  /**
   * Writes model.json, weights.bin and (when compiled) optimizer.bin into `dir`; with 'tfjs://DIR',
   * a TF.js layers model (model.json + weights.bin) that tf.loadLayersModel reads.
   */
  async save(dir: string, options?: SaveOptions): Promise<void> {
    if (dir.startsWith('tfjs://')) {
      const { saveTfjsModel } = await import('./tfjs.js');
      return saveTfjsModel(this, dir, options);
    }
    const { saveModel } = await import('./io.js');
    await saveModel(this, dir, options);
  }

  /**
   * Loads a folder written by save(); a compiled model comes back compiled with its optimizer state.
   * 'tfjs://DIR' (or 'tfjs://DIR/model.json') reads a TF.js/Keras layers model of supported layers,
   * compiled from its training config when it has one (unless `compile: false`).
   */
  static async load(dir: string, options: { compile?: boolean } = {}): Promise<Sequential> {
    if (dir.startsWith('tfjs://')) {
      const { loadTfjsModel } = await import('./tfjs.js');
      return loadTfjsModel(dir, options);
    }
    const { loadModel } = await import('./io.js');
    return loadModel(dir);
  }

  #requireCompiled(what: string): Compiled {
    if (!this.#compiled) {
      throw new CnnError('CNN_ERR_NOT_COMPILED', `${what}: compile the model first, e.g. model.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] })`);
    }
    return this.#compiled;
  }

  async fit(x: Tensor, y: Tensor, args: FitArgs = {}): Promise<History> {
    const a = normalizeConfig<FitArgs>('fit', args, FIT_KEYS);
    const compiled = this.#requireCompiled('fit');
    const network = this.network;
    validateInputs(network, x, 'fit');
    validateTargets(network, compiled.loss, x, y, 'fit');
    const { train, validation } = this.#splitValidation(x, y, a);
    const batchSize = positiveInt('fit.batchSize', a.batchSize ?? DEFAULTS.batchSize);
    const epochs = nonNegativeInt('fit.epochs', a.epochs ?? DEFAULTS.epochs);
    const initialEpoch = nonNegativeInt('fit.initialEpoch', a.initialEpoch ?? 0);
    const initialBatch = nonNegativeInt('fit.initialBatch', a.initialBatch ?? 0);
    const microBatchSize = positiveInt('fit.microBatchSize', a.microBatchSize ?? DEFAULTS.microBatchSize);
    const maxSteps = a.maxSteps === undefined ? Infinity : positiveInt('fit.maxSteps', a.maxSteps);
    const seed = nonNegativeInt('fit.seed', a.seed ?? this.seed);
    const callbacks = a.callbacks === undefined ? [] : Array.isArray(a.callbacks) ? [...a.callbacks] : [a.callbacks];
    if (a.verbose === 1) callbacks.push(consoleLogger(epochs));
    this.#requireIdle('fit');
    const strategy = a.strategy ?? singleThread();
    const state = this.#trainableState(compiled);
    this.#fitting = true;
    try {
      return await fitLoop(state, train.x, train.y, {
        batchSize, epochs, initialEpoch, initialBatch, shuffle: a.shuffle ?? true, seed, microBatchSize, maxSteps,
        validation, callbacks, strategy,
      });
    } finally {
      this.#fitting = false;
      await strategy.close();
    }
  }

  /** A fit, and trainOnBatch steps, must not run beside a fit: both write the weights (TF.js refuses too). */
  #requireIdle(what: string): void {
    if (this.#fitting || (what === 'fit' && this.#batchesPending > 0)) {
      const running = this.#fitting ? 'a fit' : 'trainOnBatch';
      throw new CnnError('CNN_ERR_BUSY', `${what}: this model is already training (${running} is running); await it before calling ${what}`);
    }
  }

  /** One optimizer step on exactly this batch (TF.js trainOnBatch); resolves to [loss, ...metrics]. */
  async trainOnBatch(x: Tensor, y: Tensor): Promise<number | number[]> {
    const compiled = this.#requireCompiled('trainOnBatch');
    validateInputs(this.network, x, 'trainOnBatch');
    validateTargets(this.network, compiled.loss, x, y, 'trainOnBatch');
    // The step fit would take on this batch (shuffle off, the model's seed, the next step number), on
    // a strategy the model keeps: a custom loop of trainOnBatch calls builds no workspace per call.
    const n = x.shape[0];
    if (n === 0) throw new CnnError('CNN_ERR_BAD_INPUT', 'trainOnBatch: the batch is empty; give it at least one sample');
    // Calls not awaited in between take their steps one after the other, in call order: the kept
    // strategy holds one batch at a time.
    this.#requireIdle('trainOnBatch');
    this.#batchesPending++;
    const step = this.#batchQueue.then(() => this.#stepOnBatch(compiled, x, y)).finally(() => this.#batchesPending--);
    this.#batchQueue = step.catch(() => undefined);
    return step;
  }

  async #stepOnBatch(compiled: Compiled, x: Tensor, y: Tensor): Promise<number | number[]> {
    const n = x.shape[0];
    const strategy = (this.#batchStrategy ??= new SingleThreadStrategy({ owner: this }));
    await strategy.prepare({
      network: this.network, modelConfig: null, params: this.params, loss: compiled.loss, fuseSoftmax: compiled.fuseSoftmax,
      optimizer: compiled.optimizer, slots: compiled.slots, microBatch: DEFAULTS.microBatchSize, maxBatchSize: n, seed: this.seed, x, y,
    });
    const stats = await strategy.trainStep({ step: this.iterations, epoch: 0, batchStart: 0, batchSize: n });
    this.iterations += 1;
    const logs = statsToLogs(stats);
    return this.#metricValues(logs.loss, logs.acc);
  }

  /** Loss and metrics over x/y, TF.js-style: a Scalar, or [loss, ...metrics] Scalars. */
  evaluate(x: Tensor, y: Tensor, args: PredictArgs = {}): Tensor | Tensor[] {
    const compiled = this.#requireCompiled('evaluate');
    normalizeConfig<PredictArgs>('evaluate', args, ['batchSize', 'verbose', 'steps']);
    validateInputs(this.network, x, 'evaluate');
    validateTargets(this.network, compiled.loss, x, y, 'evaluate');
    const stats = this.evaluateStats(x, y);
    const logs = statsToLogs(stats);
    const values = this.#metricValues(logs.loss, logs.acc);
    return Array.isArray(values) ? values.map(scalar) : scalar(values);
  }

  /** Summed loss, correct count and sample count over x/y on this thread. */
  evaluateStats(x: Tensor, y: Tensor): ShardStats {
    const compiled = this.#requireCompiled('evaluate');
    return evaluateRows(this.#inferenceWorkspace(), x, y, compiled.loss, compiled.fuseSoftmax, 0, x.shape[0]);
  }

  /** Model outputs for a batch of inputs (TF.js predict). */
  predict(x: Tensor, args: PredictArgs = {}): Tensor {
    normalizeConfig<PredictArgs>('predict', args, ['batchSize', 'verbose', 'steps']);
    const network = this.network;
    if (x instanceof Tensor && sameShape(x.shape, network.inputShape)) x = x.reshape([1, ...x.shape]);
    validateInputs(network, x, 'predict');
    const out = new Float32Array(x.shape[0] * network.outputSize);
    forwardRows(this.#inferenceWorkspace(), x, 0, x.shape[0], out);
    return new Tensor(out, [x.shape[0], ...network.outputShape]);
  }

  /** predict on a strategy (e.g. all cores: `await model.predictAsync(x, { strategy: threads() })`). */
  async predictAsync(x: Tensor, args: { strategy?: Strategy } = {}): Promise<Tensor> {
    const network = this.network;
    validateInputs(network, x, 'predictAsync');
    const out = await this.#onStrategy(args.strategy, (s) => s.predict(x), false);
    return new Tensor(out, [x.shape[0], ...network.outputShape]);
  }

  /** evaluate on a strategy; resolves to the summed loss, correct count and sample count. */
  async evaluateAsync(x: Tensor, y: Tensor, args: { strategy?: Strategy } = {}): Promise<ShardStats> {
    const compiled = this.#requireCompiled('evaluateAsync');
    validateInputs(this.network, x, 'evaluateAsync');
    validateTargets(this.network, compiled.loss, x, y, 'evaluateAsync');
    return this.#onStrategy(args.strategy, (s) => s.evaluate(x, y), true);
  }

  /** Runs inference work on a strategy prepared without a training set, and closes it. */
  async #onStrategy<T>(strategy: Strategy | undefined, work: (s: Strategy) => Promise<T>, needsLoss: boolean): Promise<T> {
    const s = strategy ?? singleThread();
    const compiled = needsLoss ? this.#requireCompiled('evaluate') : this.#compiled;
    const loss = compiled?.loss ?? resolveLoss('mse');
    const optimizer = compiled?.optimizer ?? resolveOptimizer('sgd');
    await s.prepare({
      network: this.network, modelConfig: this.toJSON(), params: this.params, loss, fuseSoftmax: compiled?.fuseSoftmax ?? false,
      optimizer, slots: compiled?.slots ?? [], microBatch: 1, maxBatchSize: 1, seed: this.seed, x: null, y: null,
    });
    try {
      return await work(s);
    } finally {
      await s.close();
    }
  }

  #metricValues(loss: number, acc: number): number | number[] {
    const metrics = this.#compiled?.metrics ?? [];
    return metrics.length === 0 ? loss : [loss, ...metrics.map(() => acc)];
  }

  #inferenceWorkspace(): Workspace {
    this.#inference ??= Workspace.create(this.network, this.params, { capacity: DEFAULTS.inferenceChunk, training: false, gradSlots: 0 }, this);
    return this.#inference;
  }

  #trainableState(compiled: Compiled): TrainableState {
    const model = this;
    return {
      network: this.network,
      params: this.params,
      optimizer: compiled.optimizer,
      slots: compiled.slots,
      loss: compiled.loss,
      fuseSoftmax: compiled.fuseSoftmax,
      modelConfig: this.toJSON(),
      // Through to the model, so callbacks see the step count as it grows.
      get iterations() {
        return model.iterations;
      },
      set iterations(v: number) {
        model.iterations = v;
      },
      get stopTraining() {
        return model.stopTraining;
      },
      set stopTraining(v: boolean) {
        model.stopTraining = v;
      },
    };
  }

  /** Keras' validationSplit takes the last fraction of the data, before any shuffling. */
  #splitValidation(x: Tensor, y: Tensor, a: FitArgs): { train: { x: Tensor; y: Tensor }; validation: { x: Tensor; y: Tensor } | null } {
    if (a.validationData) {
      const [vx, vy] = a.validationData;
      validateInputs(this.network, vx, 'fit validationData');
      validateTargets(this.network, this.loss, vx, vy, 'fit validationData');
      return { train: { x, y }, validation: { x: vx, y: vy } };
    }
    if (a.validationSplit === undefined || a.validationSplit === 0) return { train: { x, y }, validation: null };
    const split = a.validationSplit;
    check(typeof split === 'number' && split > 0 && split < 1, 'CNN_ERR_BAD_CONFIG', () => `fit.validationSplit must be in (0, 1), got ${split}`);
    const n = x.shape[0];
    const trainCount = Math.floor(n * (1 - split));
    check(trainCount > 0 && trainCount < n, 'CNN_ERR_BAD_CONFIG', () => `fit.validationSplit ${split} of ${n} samples leaves an empty training or validation set`);
    return {
      train: { x: x.slice(0, trainCount), y: y.slice(0, trainCount) },
      validation: { x: x.slice(trainCount), y: y.slice(trainCount) },
    };
  }

  /** Prints the Keras summary table (TF.js signature). */
  summary(lineLength?: number, positions?: number[], printFn: (line: string) => void = console.log): void {
    for (const line of summaryLines(this.name, this.network, lineLength, positions)) printFn(line);
  }

  /** Weights as tensors in Keras order and shapes (kernel [kh, kw, in, out] or [in, out], then bias). */
  getWeights(): Tensor[] {
    const params = this.params;
    return this.network.params.map((p) => new Tensor(params.slice(p.offset, p.offset + p.length), p.shape));
  }

  setWeights(weights: readonly Tensor[]): void {
    const entries = this.network.params;
    check(weights.length === entries.length, 'CNN_ERR_BAD_WEIGHTS', () =>
      `setWeights: the model has ${entries.length} weight tensors (${entries.map((p) => p.fullName).join(', ')}), got ${weights.length}`);
    entries.forEach((p, i) => {
      check(sameShape(weights[i].shape, p.shape), 'CNN_ERR_BAD_WEIGHTS', () =>
        `setWeights: ${p.fullName} has shape ${shapeToString(p.shape)}, got ${shapeToString(weights[i].shape)}`);
    });
    entries.forEach((p, i) => this.params.set(weights[i].dataSync(), p.offset));
  }

  /** The model's topology in TF.js' layers-model form, with camelCase configs. */
  toJSON(): { className: 'Sequential'; config: { name: string; layers: { className: string; config: Record<string, unknown> }[] } } {
    this.build();
    return { className: 'Sequential', config: { name: this.name, layers: this.#layers.map((l) => ({ className: l.className, config: l.getConfig() })) } };
  }

  /** Rebuilds a model (fresh weights from `seed`) from toJSON()'s output or a Keras/TF.js topology. */
  static fromConfig(topology: unknown, seed?: number): Sequential {
    const { name, layers } = layersFromTopology(topology);
    const model = new Sequential({ name, seed, layers });
    model.build();
    return model;
  }
}

/** The name and fresh layer objects of a saved Sequential topology (ours, TF.js' or Keras'). */
export function layersFromTopology(topology: unknown): { name: string | undefined; layers: Layer[] } {
  const t = topology as { className?: string; class_name?: string; config?: { name?: string; layers?: unknown[] } | unknown[] };
  const className = t?.className ?? t?.class_name;
  if (className !== 'Sequential') throw new CnnError('CNN_ERR_BAD_MODEL', `Only Sequential models are supported, got ${JSON.stringify(className)}`);
  const config = Array.isArray(t.config) ? { layers: t.config, name: undefined } : (t.config ?? {});
  if (!Array.isArray(config.layers) || config.layers.length === 0) throw new CnnError('CNN_ERR_BAD_MODEL', 'The model config has no layers');
  return { name: config.name, layers: config.layers.map((entry) => layerFromConfig(entry as never)) };
}

/** The built network of a saved topology, without allocating parameters (worker threads share the host's). */
export function networkFromTopology(topology: unknown): Network {
  const { layers } = layersFromTopology(topology);
  if (!layers[0].declaredInputShape) throw new CnnError('CNN_ERR_NO_INPUT_SHAPE', 'The first layer of the model config has no input shape');
  return new Network(layers, layers[0].declaredInputShape);
}

function positiveInt(what: string, v: unknown): number {
  check(typeof v === 'number' && Number.isInteger(v) && v > 0, 'CNN_ERR_BAD_CONFIG', () => `${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function nonNegativeInt(what: string, v: unknown): number {
  check(typeof v === 'number' && Number.isInteger(v) && v >= 0, 'CNN_ERR_BAD_CONFIG', () => `${what} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

function consoleLogger(epochs: number): Callbacks {
  return {
    onEpochEnd: (epoch, logs) => {
      const parts = Object.entries(logs ?? {}).map(([k, v]) => `${k}=${v.toFixed(4)}`);
      console.log(`Epoch ${epoch + 1}/${epochs} ${parts.join(' ')}`);
    },
  };
}
