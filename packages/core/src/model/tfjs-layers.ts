import { CnnError } from '../errors.js';
import { ACTIVATIONS } from '../kernels/activations.js';
import { Activation, AveragePooling2D, Conv2D, Dense, Dropout, Flatten, MaxPooling2D } from '../layers/index.js';
import type { InitializerName } from '../layers/initializers.js';
import type { Layer, LayerConfig } from '../layers/layer.js';
import { camelCase, snakeCase } from '../names.js';

/*
 * Layer configs in the Keras JSON form that tfjs-layers writes and reads (tfjs-layers
 * src/layers/*.ts getConfig, turned snake_case by convertTsToPythonic): {class_name, config} with
 * snake_case keys, initializers as {class_name, config}. Export writes exactly what TF.js' own
 * save() writes for the same layer; import accepts TF.js' and Keras 2's spellings and refuses,
 * with the reason, every setting that would compute something else than our layers do.
 */

/** A valid TF.js or Keras model that uses something these layers do not implement. */
export const UNSUPPORTED = 'CNN_ERR_UNSUPPORTED_TFJS';

export interface KerasLayerJson {
  class_name: string;
  config: Record<string, unknown>;
}

/** What import reads (InputLayer only gives the input shape; it is not a layer here). */
export const SUPPORTED_LAYERS = ['InputLayer', 'Conv2D', 'MaxPooling2D', 'AveragePooling2D', 'Flatten', 'Dense', 'Activation', 'Dropout'];

// ---- export ----------------------------------------------------------------------------------

/** Our initializers in the form tfjs-layers serializes them (GlorotUniform & co. are VarianceScaling there). */
const VARIANCE_SCALING_OF: Record<Exclude<InitializerName, 'zeros' | 'ones'>, { scale: number; mode: string; distribution: string }> = {
  glorotUniform: { scale: 1, mode: 'fan_avg', distribution: 'uniform' },
  glorotNormal: { scale: 1, mode: 'fan_avg', distribution: 'normal' },
  heUniform: { scale: 2, mode: 'fan_in', distribution: 'uniform' },
  heNormal: { scale: 2, mode: 'fan_in', distribution: 'normal' },
  lecunUniform: { scale: 1, mode: 'fan_in', distribution: 'uniform' },
  lecunNormal: { scale: 1, mode: 'fan_in', distribution: 'normal' },
};

function initializerJson(name: InitializerName): KerasLayerJson {
  if (name === 'zeros') return { class_name: 'Zeros', config: {} };
  if (name === 'ones') return { class_name: 'Ones', config: {} };
  return { class_name: 'VarianceScaling', config: { ...VARIANCE_SCALING_OF[name], seed: null } };
}

const NO_REGULARIZERS = { kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null };

/**
 * One layer exactly as tfjs-layers serializes it: the first carries the model's batch_input_shape
 * and its dtype, the others only name and trainable besides their settings.
 */
export function layerToKeras(layer: Layer, batchInputShape: (number | null)[] | null): KerasLayerJson {
  const config: Record<string, unknown> = { ...layerSettings(layer), name: layer.name, trainable: true };
  if (batchInputShape) Object.assign(config, { batch_input_shape: batchInputShape, dtype: 'float32' });
  return { class_name: layer.className, config };
}

function layerSettings(layer: Layer): Record<string, unknown> {
  if (layer instanceof Conv2D) {
    return {
      filters: layer.filters, kernel_size: [...layer.kernelSize], strides: [...layer.strides], padding: layer.padding,
      data_format: 'channels_last', dilation_rate: [1, 1], activation: layer.activation, use_bias: layer.useBias,
      kernel_initializer: initializerJson(layer.kernelInitializer), bias_initializer: initializerJson(layer.biasInitializer), ...NO_REGULARIZERS,
    };
  }
  if (layer instanceof Dense) {
    return {
      units: layer.units, activation: layer.activation, use_bias: layer.useBias,
      kernel_initializer: initializerJson(layer.kernelInitializer), bias_initializer: initializerJson(layer.biasInitializer), ...NO_REGULARIZERS,
    };
  }
  if (layer instanceof MaxPooling2D || layer instanceof AveragePooling2D) {
    return { pool_size: [...layer.poolSize], padding: layer.padding, strides: [...layer.strides], data_format: 'channels_last' };
  }
  if (layer instanceof Flatten) return { data_format: 'channels_last' };
  if (layer instanceof Dropout) return { rate: layer.rate, noise_shape: null, seed: null };
  if (layer instanceof Activation) return { activation: layer.activation };
  throw new CnnError(UNSUPPORTED, `Layer '${layer.name}' (${layer.className}) has no TF.js equivalent. TF.js export supports ${SUPPORTED_LAYERS.slice(1).join(', ')}; ` +
    `replace it (e.g. MinPooling2D by MaxPooling2D of the negated input) or save in this library's format with model.save(dir).`);
}

// ---- import ----------------------------------------------------------------------------------

/**
 * Reads one layer's Keras config (snake_case, camelCase accepted too) and remembers what it read,
 * so that a setting nobody read fails the import instead of being silently dropped.
 */
class KerasConfig {
  readonly #read = new Set<string>();
  constructor(readonly where: string, readonly raw: Record<string, unknown>) {}

  get(key: string): unknown {
    this.#read.add(key);
    this.#read.add(camelCase(key));
    return this.raw[key] ?? this.raw[camelCase(key)] ?? undefined;
  }

  unsupported(what: string): never {
    throw new CnnError(UNSUPPORTED, `${this.where}: ${what}`);
  }

  /** Keys left unread whose value is not null (Keras writes null for every absent option). */
  finish(): void {
    const left = Object.entries(this.raw).filter(([k, v]) => !this.#read.has(k) && v !== null && v !== undefined);
    if (left.length > 0) {
      this.unsupported(`unsupported setting(s) ${left.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}; remove them or set them to null before loading`);
    }
  }
}

/** Settings every Keras layer may carry; only the float32, trainable case computes what we do. */
function readCommon(c: KerasConfig): { name: string | undefined; batchInputShape: unknown } {
  const name = c.get('name');
  if (name !== undefined && typeof name !== 'string') c.unsupported(`name must be a string, got ${JSON.stringify(name)}`);
  const trainable = c.get('trainable');
  if (trainable === false) c.unsupported('trainable: false (a frozen layer) is not supported; every layer trains here. Set trainable to true or leave the layer out');
  readDtype(c, c.get('dtype'));
  readDtype(c, c.get('input_dtype'));
  return { name, batchInputShape: c.get('batch_input_shape') ?? c.get('batch_shape') };
}

/** 'float32', or Keras 3's {class_name: 'DTypePolicy', config: {name: 'float32'}}. */
function readDtype(c: KerasConfig, v: unknown): void {
  const name = typeof v === 'object' && v !== null ? (v as { config?: { name?: unknown } }).config?.name : v;
  if (name !== undefined && name !== null && name !== 'float32') c.unsupported(`dtype ${JSON.stringify(name)} is not supported; only float32`);
}

function mustBeNull(c: KerasConfig, ...keys: string[]): void {
  for (const key of keys) {
    const v = c.get(key);
    if (v !== null && v !== undefined) c.unsupported(`${key} ${JSON.stringify(v)} is not supported (no regularizers or constraints); set it to null`);
  }
}

function readDataFormat(c: KerasConfig): void {
  const v = c.get('data_format');
  if (v === null || v === undefined || v === 'channels_last' || v === 'channelsLast') return;
  c.unsupported(`data_format ${JSON.stringify(v)} is not supported; only 'channels_last' (NHWC). Rebuild the model with channels_last`);
}

/** A window or stride: a number or [h, w] (validated again by the layer). */
function readPair(v: unknown): number | [number, number] | undefined {
  if (v === null || v === undefined) return undefined;
  return v as number | [number, number];
}

function readActivation(c: KerasConfig): string | undefined {
  const v = c.get('activation');
  if (v === null || v === undefined) return undefined;
  const name = typeof v === 'string' ? camelCase(v) : undefined;
  if (!name || !(ACTIVATIONS as readonly string[]).includes(name)) {
    c.unsupported(`activation ${JSON.stringify(v)} is not supported. Supported activations: ${ACTIVATIONS.join(', ')}`);
  }
  return name;
}

/**
 * The initializer, when it is one of ours ('glorot_uniform', {class_name: 'HeNormal'}, or the
 * VarianceScaling that TF.js writes for GlorotNormal). Others (RandomNormal, Orthogonal, ...) give
 * undefined and the layer keeps its default: loaded weights overwrite the initial ones, so the
 * initializer only matters to a later re-initialization from the config.
 */
function readInitializer(v: unknown): InitializerName | undefined {
  if (typeof v === 'string') return ourInitializer(camelCase(v));
  if (typeof v !== 'object' || v === null) return undefined;
  const { class_name: className, config = {} } = v as { class_name?: unknown; config?: Record<string, unknown> };
  if (className === 'VarianceScaling') {
    // TF.js' 'normal' is a truncated normal like Keras' 'truncated_normal' (up to Keras' 0.88 stddev correction).
    const distribution = config.distribution === 'uniform' ? 'uniform' : 'normal';
    const mode = snakeCase(String(config.mode));
    const found = Object.entries(VARIANCE_SCALING_OF).find(([, v]) => v.scale === config.scale && v.mode === mode && v.distribution === distribution);
    return found?.[0] as InitializerName | undefined;
  }
  return typeof className === 'string' ? ourInitializer(className.charAt(0).toLowerCase() + className.slice(1)) : undefined;
}

/** 'leCunNormal' (TF.js' LeCunNormal) and 'lecunNormal' (Keras' LecunNormal) are both ours. */
function ourInitializer(name: string): InitializerName | undefined {
  const fixed = name.replace(/^leCun/, 'lecun');
  return fixed === 'zeros' || fixed === 'ones' || Object.hasOwn(VARIANCE_SCALING_OF, fixed) ? (fixed as InitializerName) : undefined;
}

function readBias(c: KerasConfig): Record<string, unknown> {
  mustBeNull(c, 'kernel_regularizer', 'bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'bias_constraint');
  return {
    useBias: c.get('use_bias') ?? true,
    kernelInitializer: readInitializer(c.get('kernel_initializer')),
    biasInitializer: readInitializer(c.get('bias_initializer')),
  };
}

/** Builds the layer from its config; `base` holds its name and, for the first layer, its input shape. */
type Importer = (c: KerasConfig, base: LayerConfig) => Layer;

const IMPORTERS: Record<string, Importer> = {
  Conv2D: (c, base) => {
    const dilation = c.get('dilation_rate');
    if (dilation !== undefined && dilation !== null && dilation !== 1 && !(Array.isArray(dilation) && dilation.every((d) => d === 1))) {
      c.unsupported(`dilation_rate ${JSON.stringify(dilation)} is not supported; only 1 (no dilation)`);
    }
    const groups = c.get('groups');
    if (groups !== undefined && groups !== null && groups !== 1) c.unsupported(`groups ${JSON.stringify(groups)} is not supported; only 1`);
    readDataFormat(c);
    return new Conv2D({
      ...base, filters: c.get('filters') as number, kernelSize: readPair(c.get('kernel_size')) as number, strides: readPair(c.get('strides')),
      padding: c.get('padding') as 'valid', activation: readActivation(c), ...readBias(c),
    });
  },
  Dense: (c, base) => {
    c.get('input_dim');
    return new Dense({ ...base, units: c.get('units') as number, activation: readActivation(c), ...readBias(c) });
  },
  MaxPooling2D: (c, base) => new MaxPooling2D({ ...base, ...readPooling(c) }),
  AveragePooling2D: (c, base) => new AveragePooling2D({ ...base, ...readPooling(c) }),
  Flatten: (c, base) => {
    readDataFormat(c);
    return new Flatten(base);
  },
  Dropout: (c, base) => {
    const noiseShape = c.get('noise_shape');
    if (noiseShape !== null && noiseShape !== undefined) c.unsupported(`noise_shape ${JSON.stringify(noiseShape)} is not supported; set it to null`);
    // Our masks come from the model's seed (the same on every thread), not from a per-layer seed.
    c.get('seed');
    return new Dropout({ ...base, rate: c.get('rate') as number });
  },
  Activation: (c, base) => {
    const activation = readActivation(c) ?? c.unsupported('activation is missing');
    return new Activation({ ...base, activation });
  },
};
IMPORTERS.MaxPool2D = IMPORTERS.MaxPooling2D;
IMPORTERS.AvgPool2D = IMPORTERS.AveragePooling2D;

function readPooling(c: KerasConfig): { poolSize?: number | [number, number]; strides?: number | [number, number]; padding?: 'valid' } {
  readDataFormat(c);
  return { poolSize: readPair(c.get('pool_size')), strides: readPair(c.get('strides')), padding: (c.get('padding') ?? undefined) as 'valid' };
}

/** The input shape of a batch_input_shape [null, ...dims]. */
function inputShapeOf(c: KerasConfig, v: unknown): number[] {
  if (!Array.isArray(v) || v.length < 2 || !v.slice(1).every((d) => Number.isInteger(d) && d > 0)) {
    c.unsupported(`batch_input_shape ${JSON.stringify(v)} must be [null, ...positive sizes] (a fixed input shape)`);
  }
  return v.slice(1) as number[];
}

/**
 * Our layers for the layers of a Keras/TF.js Sequential config (its `config.layers`), in order.
 * A leading InputLayer gives the input shape; otherwise the first layer's batch_input_shape does.
 */
export function layersFromKeras(entries: readonly unknown[]): Layer[] {
  const out: Layer[] = [];
  let inputShape: number[] | undefined;
  entries.forEach((entry, index) => {
    const e = entry as Partial<KerasLayerJson> & { className?: string };
    const className = e?.class_name ?? e?.className;
    const raw = (e?.config ?? {}) as Record<string, unknown>;
    const where = `layer ${index} '${typeof raw.name === 'string' ? raw.name : '?'}' (${className})`;
    const c = new KerasConfig(where, raw);
    if (className === 'InputLayer') {
      if (index !== 0) c.unsupported('an InputLayer is only supported as the first layer of a Sequential model');
      const { batchInputShape } = readCommon(c);
      if (c.get('sparse') === true || c.get('ragged') === true) c.unsupported('sparse or ragged inputs are not supported');
      inputShape = inputShapeOf(c, batchInputShape);
      c.finish();
      return;
    }
    const importer = typeof className === 'string' && Object.hasOwn(IMPORTERS, className) ? IMPORTERS[className] : undefined;
    if (!importer) {
      throw new CnnError(UNSUPPORTED, `${where}: ${JSON.stringify(className)} layers are not supported. Supported TF.js/Keras layers: ${SUPPORTED_LAYERS.join(', ')} ` +
        '(Sequential models, channels_last, float32).');
    }
    const { name, batchInputShape } = readCommon(c);
    const base: LayerConfig = { name };
    if (out.length === 0) {
      base.inputShape = inputShape ?? (batchInputShape === undefined || batchInputShape === null ? undefined : inputShapeOf(c, batchInputShape));
      if (!base.inputShape) throw new CnnError('CNN_ERR_NO_INPUT_SHAPE', `${where}: the first layer has no batch_input_shape and there is no InputLayer; the input shape is unknown`);
    }
    try {
      out.push(importer(c, base));
    } catch (err) {
      if (err instanceof CnnError && !err.message.startsWith(where)) throw new CnnError(err.code, `${where}: ${err.message}`);
      throw err;
    }
    c.finish();
  });
  if (out.length === 0) throw new CnnError('CNN_ERR_BAD_MODEL', 'The model has no layers (besides an InputLayer)');
  return out;
}
