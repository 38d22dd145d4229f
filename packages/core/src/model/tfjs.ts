import { CnnError } from '../errors.js';
import { resolveLoss, type Loss } from '../losses/index.js';
import { camelCase } from '../names.js';
import { Adam, RMSprop, SGD, resolveOptimizer, type Optimizer } from '../optimizers/index.js';
import { sizeOf } from '../shape.js';
import { Sequential } from './sequential.js';
import { layerToKeras, layersFromKeras, UNSUPPORTED, type KerasLayerJson } from './tfjs-layers.js';

/*
 * TF.js layers models (tfjs-core src/io/types.ts ModelJSON; tfjs-layers LayersModel.save): a
 * model.json with the Keras topology and a weights manifest, and the weights as little-endian
 * float32 files. Our parameter buffer is already in Keras order (per layer: kernel [kh, kw, in,
 * out] or [in, out], then bias) with Keras' names ('conv2d/kernel', which TF.js matches by the
 * layer's name), so export writes it as one weights.bin and import gathers it back by name.
 *
 * The optimizer's state is not carried either way (TF.js keeps its Adam moments under other names
 * and updates with a differently placed epsilon); the training config (loss, metrics, optimizer
 * and its settings) is, so a loaded model continues training with fresh optimizer state.
 */

export const TFJS_URL_PREFIX = 'tfjs://';
export const TFJS_FORMAT = 'layers-model';
/** The tfjs-layers release whose serialization export follows, and which the interop tests load with. */
export const TFJS_LAYERS_VERSION = '4.22.0';
const WEIGHTS_FILE = 'weights.bin';
const MODEL_FILE = 'model.json';

export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  group?: string;
  quantization?: unknown;
}

export interface TfjsTrainingConfig {
  loss: string | string[] | Record<string, string>;
  metrics?: string[] | Record<string, string> | null;
  optimizer_config: { class_name: string; config: Record<string, unknown> };
}

/** model.json of a TF.js layers model (tfjs-core's ModelJSON, the fields a layers model uses). */
export interface TfjsModelJson {
  format: typeof TFJS_FORMAT;
  generatedBy: string;
  convertedBy: string | null;
  modelTopology: {
    class_name: 'Sequential';
    config: { name: string; layers: KerasLayerJson[] };
    keras_version: string;
    backend: string;
  };
  weightsManifest: { paths: string[]; weights: TfjsWeightSpec[] }[];
  trainingConfig?: TfjsTrainingConfig;
}

export interface TfjsSaveOptions {
  /** Write the training config (loss, metrics, optimizer settings) of a compiled model (default true). */
  includeOptimizer?: boolean;
}

export interface TfjsLoadOptions {
  /** Compile the model from the file's training config when it has one (default true). */
  compile?: boolean;
}

// ---- export ----------------------------------------------------------------------------------

/** model.json and weights.bin of `model` as TF.js writes them; nothing touches the file system. */
export function toTfjs(model: Sequential, options: TfjsSaveOptions = {}): { modelJson: TfjsModelJson; weights: Uint8Array } {
  const network = model.network;
  const layers = network.layers.map((layer, i) => layerToKeras(layer, i === 0 ? [null, ...network.inputShape] : null));
  const modelJson: TfjsModelJson = {
    format: TFJS_FORMAT,
    generatedBy: '@cnn/core',
    // Written natively in TF.js' form: no converter ran, as in tfjs-layers' own save().
    convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: { name: model.name, layers },
      keras_version: `tfjs-layers ${TFJS_LAYERS_VERSION}`,
      backend: 'tensor_flow.js',
    },
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: network.params.map((p) => ({ name: p.fullName, shape: [...p.shape], dtype: 'float32' })) }],
  };
  const training = model.isCompiled && (options.includeOptimizer ?? true) ? trainingConfigOf(model) : undefined;
  if (training) modelJson.trainingConfig = training;
  const params = model.params;
  return { modelJson, weights: new Uint8Array(params.buffer, params.byteOffset, params.byteLength).slice() };
}

/** TF.js' training config, or undefined when the loss or optimizer has no TF.js counterpart. */
function trainingConfigOf(model: Sequential): TfjsTrainingConfig | undefined {
  const loss = model.loss.getConfig();
  const optimizer = optimizerToTfjs(model.optimizer);
  // A from_logits loss is an object; TF.js reads only loss names.
  if (typeof loss !== 'string' || !optimizer) return undefined;
  return { loss, metrics: model.metricNames.map((m) => (m === 'acc' ? 'accuracy' : m)), optimizer_config: optimizer };
}

/** tfjs-core's optimizer classes and their getConfig() keys. */
function optimizerToTfjs(o: Optimizer): TfjsTrainingConfig['optimizer_config'] | undefined {
  if (o instanceof Adam) return { class_name: 'Adam', config: { learningRate: o.learningRate, beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon } };
  if (o instanceof RMSprop) {
    return { class_name: 'RMSProp', config: { learningRate: o.learningRate, decay: o.rho, momentum: o.momentum, epsilon: o.epsilon, centered: o.centered } };
  }
  if (o instanceof SGD) {
    // TF.js' MomentumOptimizer (acc = m acc + g; p -= lr acc) is Keras' SGD with momentum at a fixed lr.
    return o.momentum === 0
      ? { class_name: 'SGD', config: { learningRate: o.learningRate } }
      : { class_name: 'Momentum', config: { learningRate: o.learningRate, momentum: o.momentum, useNesterov: o.nesterov } };
  }
  return undefined;
}

// ---- import ----------------------------------------------------------------------------------

/**
 * A Sequential model from a TF.js/Keras layers model.json and its weight files, read through
 * `readFile` (paths as the manifest gives them, relative to model.json).
 */
export async function fromTfjs(json: unknown, readFile: (path: string) => Promise<Uint8Array>, options: TfjsLoadOptions = {}): Promise<Sequential> {
  const j = checkModelJson(json);
  const topology = (j.modelTopology.model_config ?? j.modelTopology) as { class_name?: string; config?: { name?: unknown; layers?: unknown[] } | unknown[] };
  if (topology.class_name !== 'Sequential') {
    throw new CnnError(UNSUPPORTED, `Only Sequential models are supported, got a ${JSON.stringify(topology.class_name)} model; rebuild it with tf.sequential() / keras.Sequential`);
  }
  const config = Array.isArray(topology.config) ? { layers: topology.config } : (topology.config ?? {});
  if (!Array.isArray(config.layers)) throw new CnnError('CNN_ERR_BAD_MODEL_FILE', 'modelTopology.config.layers is missing');
  const name = typeof (config as { name?: unknown }).name === 'string' ? (config as { name: string }).name : undefined;
  const model = new Sequential({ name, layers: layersFromKeras(config.layers) });
  model.build();
  const weights = await readWeights(j.weightsManifest, readFile);
  assignWeights(model, weights);
  const training = j.trainingConfig ?? (j.modelTopology.training_config as TfjsTrainingConfig | undefined);
  if (training && (options.compile ?? true)) compileFrom(model, training);
  return model;
}

interface LooseModelJson {
  modelTopology: Record<string, unknown>;
  weightsManifest: unknown;
  trainingConfig?: TfjsTrainingConfig;
}

function checkModelJson(json: unknown): LooseModelJson {
  const j = json as { format?: unknown; modelTopology?: unknown; weightsManifest?: unknown; trainingConfig?: TfjsTrainingConfig } | null;
  if (typeof j !== 'object' || j === null) throw new CnnError('CNN_ERR_BAD_MODEL_FILE', 'model.json is not a JSON object');
  if (j.format === 'graph-model') {
    throw new CnnError(UNSUPPORTED, 'this is a TF.js graph model (tf.loadGraphModel); only layers models (format "layers-model") can be loaded and trained');
  }
  if (j.format === 'cnn-layers-model') throw new CnnError('CNN_ERR_BAD_MODEL_FILE', "this folder holds this library's own format; load it without the tfjs:// prefix");
  if (j.format !== undefined && j.format !== TFJS_FORMAT) throw new CnnError('CNN_ERR_BAD_MODEL_FILE', `unknown model format ${JSON.stringify(j.format)}; expected "${TFJS_FORMAT}"`);
  if (typeof j.modelTopology !== 'object' || j.modelTopology === null) throw new CnnError('CNN_ERR_BAD_MODEL_FILE', 'model.json has no modelTopology');
  return { modelTopology: j.modelTopology as Record<string, unknown>, weightsManifest: j.weightsManifest, trainingConfig: j.trainingConfig ?? undefined };
}

/**
 * The model weights of a manifest by name. Each group's files are one buffer that its specs
 * describe in order (tfjs-core io.decodeWeights); optimizer weights (group 'optimizer') are skipped.
 */
async function readWeights(manifest: unknown, readFile: (path: string) => Promise<Uint8Array>): Promise<Map<string, { shape: number[]; values: Float32Array }>> {
  if (!Array.isArray(manifest)) throw new CnnError('CNN_ERR_BAD_MODEL_FILE', 'model.json has no weightsManifest; a model without weights cannot continue training');
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const group of manifest as { paths?: unknown; weights?: unknown }[]) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group.weights)) throw new CnnError('CNN_ERR_BAD_MODEL_FILE', 'weightsManifest entries need paths and weights arrays');
    const bytes = concat(await Promise.all((group.paths as string[]).map((p) => readFile(String(p)))));
    let offset = 0;
    for (const spec of group.weights as TfjsWeightSpec[]) {
      const end = offset + byteLength(spec);
      if (end > bytes.length) {
        throw new CnnError('CNN_ERR_BAD_MODEL_FILE', `the weight files ${JSON.stringify(group.paths)} hold ${bytes.length} bytes, but the manifest needs more for ${spec.name}; a file is truncated or missing`);
      }
      if (spec.group !== 'optimizer') {
        if (spec.quantization) {
          throw new CnnError(UNSUPPORTED, `weight ${spec.name} is quantized (${JSON.stringify(spec.quantization)}); convert the model without --quantize_* options`);
        }
        if (spec.dtype !== 'float32') throw new CnnError(UNSUPPORTED, `weight ${spec.name} has dtype ${JSON.stringify(spec.dtype)}; only float32 weights are supported`);
        // Copied: file buffers need not be 4-byte aligned.
        out.set(spec.name, { shape: spec.shape, values: new Float32Array(bytes.slice(offset, end).buffer) });
      }
      offset = end;
    }
    if (offset !== bytes.length) {
      throw new CnnError('CNN_ERR_BAD_MODEL_FILE', `the weight files ${JSON.stringify(group.paths)} hold ${bytes.length} bytes, the manifest describes ${offset}; they belong to another model`);
    }
  }
  return out;
}

/** Bytes per value as tfjs-core's decodeWeights reads them (quantized weights by their stored dtype). */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

function byteLength(spec: TfjsWeightSpec): number {
  const stored = (spec.quantization as { dtype?: string } | undefined)?.dtype ?? spec.dtype;
  const size = DTYPE_BYTES[stored];
  if (!Array.isArray(spec.shape) || size === undefined) {
    throw new CnnError(UNSUPPORTED, `weight ${spec.name} has dtype ${JSON.stringify(stored)} and shape ${JSON.stringify(spec.shape)}; only float32 weights are supported`);
  }
  return sizeOf(spec.shape) * size;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Fills the parameter buffer by weight name. Like tfjs-layers' loadWeights (strict), every model
 * weight must be given and every given weight used; 'layer/cell/kernel' also matches 'layer/kernel'.
 */
function assignWeights(model: Sequential, weights: Map<string, { shape: number[]; values: Float32Array }>): void {
  const entries = new Map(model.network.params.map((p) => [p.fullName, p]));
  const unused: string[] = [];
  const set = new Set<string>();
  for (const [name, w] of weights) {
    const tokens = name.split('/');
    const key = entries.has(name) ? name : [...tokens.slice(0, -2), tokens[tokens.length - 1]].join('/');
    const p = entries.get(key);
    if (!p || set.has(key)) {
      unused.push(name);
      continue;
    }
    if (w.shape.length !== p.shape.length || w.shape.some((d, i) => d !== p.shape[i])) {
      throw new CnnError('CNN_ERR_BAD_WEIGHTS', `weight ${name} has shape [${w.shape.join(', ')}] in the manifest, the layer needs [${p.shape.join(', ')}]`);
    }
    model.params.set(w.values, p.offset);
    set.add(key);
  }
  const missing = [...entries.keys()].filter((k) => !set.has(k));
  if (unused.length > 0 || missing.length > 0) {
    throw new CnnError('CNN_ERR_BAD_WEIGHTS', `the weights do not match the layers: ${missing.length ? `missing ${missing.join(', ')}` : ''}` +
      `${missing.length && unused.length ? '; ' : ''}${unused.length ? `no layer for ${unused.join(', ')}` : ''}. Weights are matched by 'layer_name/kernel' and 'layer_name/bias'`);
  }
}

const COMPILE_HINT = "load with { compile: false } and compile the model yourself";

/** Compiles the model from a TF.js/Keras training config. */
function compileFrom(model: Sequential, t: TfjsTrainingConfig): void {
  const fail = (what: string, cause?: unknown): never => {
    throw new CnnError(UNSUPPORTED, `training config: ${what}; ${COMPILE_HINT}`, { cause });
  };
  const extra = t as { loss_weights?: unknown; sample_weight_mode?: unknown };
  if (extra.loss_weights != null || extra.sample_weight_mode != null) fail('loss_weights and sample_weight_mode are not supported');
  let loss: Loss;
  try {
    loss = lossFrom(t.loss);
  } catch (e) {
    return fail(`loss ${JSON.stringify(t.loss)} is not supported (${(e as Error).message})`, e);
  }
  let optimizer: Optimizer;
  try {
    optimizer = optimizerFrom(t.optimizer_config);
  } catch (e) {
    return fail(`optimizer ${JSON.stringify(t.optimizer_config)} is not supported (${(e as Error).message})`, e);
  }
  const given = t.metrics === null || t.metrics === undefined ? [] : Array.isArray(t.metrics) ? t.metrics : Object.values(t.metrics);
  const metrics = given.map((m) => (ACCURACY.has(camelCase(String(m))) ? 'accuracy' : fail(`metric ${JSON.stringify(m)} is not supported (only accuracy)`)));
  model.compile({ loss, optimizer, metrics: [...new Set(metrics)] });
}

/** Keras' and TF.js' names of the argmax accuracy our 'acc' metric computes. */
const ACCURACY = new Set(['accuracy', 'acc', 'sparseCategoricalAccuracy', 'categoricalAccuracy']);

function lossFrom(v: unknown): Loss {
  const single = Array.isArray(v) && v.length === 1 ? v[0] : v;
  if (typeof single === 'object' && single !== null && 'class_name' in single) {
    const { class_name: className, config = {} } = single as { class_name: string; config?: { from_logits?: boolean } };
    return resolveLoss({ className, config: { fromLogits: config.from_logits ?? false } });
  }
  if (typeof single !== 'string') throw new Error('expected one loss name');
  return resolveLoss(single);
}

/** Options an optimizer config may carry that do not change its arithmetic when null, false or 0. */
const INERT_OPTIONS = new Set(['name', 'jitCompile', 'isLegacyOptimizer', 'emaMomentum', 'emaOverwriteFrequency']);

interface OptimizerPlan {
  ours: 'adam' | 'sgd' | 'rmsprop';
  settings: Record<string, unknown>;
  /** Config keys the settings came from. */
  read: string[];
}

/** Which of ours a TF.js (Adam, SGD, Momentum, RMSProp) or Keras (Adam, SGD, RMSprop) config is. */
function optimizerPlan(className: string, c: Record<string, unknown>): OptimizerPlan {
  const learningRate = c.learningRate ?? c.lr;
  const lrKeys = ['learningRate', 'lr'];
  switch (className) {
    case 'Adam':
      if (c.amsgrad === true) throw new Error('amsgrad is not supported');
      return { ours: 'adam', settings: { learningRate, beta1: c.beta1, beta2: c.beta2, epsilon: c.epsilon }, read: [...lrKeys, 'beta1', 'beta2', 'epsilon', 'amsgrad'] };
    case 'SGD':
    case 'Momentum':
      return { ours: 'sgd', settings: { learningRate, momentum: c.momentum, nesterov: c.nesterov ?? c.useNesterov }, read: [...lrKeys, 'momentum', 'nesterov', 'useNesterov'] };
    case 'RMSProp':
    case 'RMSprop': {
      // TF.js calls rho 'decay'; Keras' 'decay' is a learning-rate decay, which must be 0.
      const tfjsDecay = className === 'RMSProp' && c.rho === undefined;
      return {
        ours: 'rmsprop',
        settings: { learningRate, rho: tfjsDecay ? c.decay : c.rho, momentum: c.momentum, epsilon: c.epsilon, centered: c.centered },
        read: [...lrKeys, 'rho', 'momentum', 'epsilon', 'centered', ...(tfjsDecay ? ['decay'] : [])],
      };
    }
    default:
      throw new Error('only Adam, SGD, Momentum and RMSProp are supported');
  }
}

function optimizerFrom(o: { class_name?: unknown; config?: Record<string, unknown> }): Optimizer {
  const c = Object.fromEntries(Object.entries(o?.config ?? {}).map(([k, v]) => [camelCase(k), v]));
  const plan = optimizerPlan(String(o?.class_name), c);
  const extra = Object.entries(c).filter(([k, v]) => !plan.read.includes(k) && !INERT_OPTIONS.has(k) && v !== null && v !== false && v !== 0);
  if (extra.length > 0) throw new Error(`unsupported setting(s) ${extra.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`);
  const config = Object.fromEntries(Object.entries(plan.settings).filter(([, v]) => v !== undefined && v !== null));
  return resolveOptimizer({ className: plan.ours, config });
}

// ---- files -------------------------------------------------------------------------------------

/** The path of a 'tfjs://path' URL (a folder, or its model.json). */
export function tfjsPath(url: string): string {
  const path = url.startsWith(TFJS_URL_PREFIX) ? url.slice(TFJS_URL_PREFIX.length) : url;
  if (path === '') throw new CnnError('CNN_ERR_BAD_CONFIG', `${url}: expected tfjs://DIR or tfjs://DIR/model.json`);
  return path;
}

/** Writes DIR/weights.bin and DIR/model.json (model.json last, so a complete folder has one). */
export async function saveTfjsModel(model: Sequential, url: string, options: TfjsSaveOptions = {}): Promise<void> {
  const [{ mkdir }, { join }, { writeFileAtomic }] = await Promise.all([import('node:fs/promises'), import('node:path'), import('./io.js')]);
  const dir = tfjsPath(url);
  const { modelJson, weights } = toTfjs(model, options);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, WEIGHTS_FILE), weights);
  await writeFileAtomic(join(dir, MODEL_FILE), JSON.stringify(modelJson, null, 2) + '\n');
}

/** Loads tfjs://DIR or tfjs://DIR/model.json; weight paths are relative to model.json. */
export async function loadTfjsModel(url: string, options: TfjsLoadOptions = {}): Promise<Sequential> {
  const [{ readFile, stat }, { dirname, join, resolve }] = await Promise.all([import('node:fs/promises'), import('node:path')]);
  const path = tfjsPath(url);
  const file = (await stat(path).catch(() => null))?.isDirectory() ? join(path, MODEL_FILE) : path;
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'CNN_ERR_FILE_NOT_FOUND' : 'CNN_ERR_BAD_MODEL_FILE';
    throw new CnnError(code, `${file}: cannot load a TF.js model (${(e as Error).message}); expected the model.json of a TF.js layers model`);
  }
  const readWeightFile = async (p: string): Promise<Uint8Array> => {
    if (/^[a-z][a-z0-9+.-]*:/i.test(p)) throw new CnnError(UNSUPPORTED, `weight path ${p} is a URL; only files next to model.json can be read`);
    try {
      return new Uint8Array(await readFile(resolve(dirname(file), p)));
    } catch (e) {
      throw new CnnError('CNN_ERR_FILE_NOT_FOUND', `cannot read the weight file ${p} (${(e as Error).message})`);
    }
  };
  try {
    return await fromTfjs(json, readWeightFile, options);
  } catch (e) {
    if (e instanceof CnnError) throw new CnnError(e.code, `${file}: ${e.message}`, { cause: e.cause });
    throw e;
  }
}
