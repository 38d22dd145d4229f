import { CnnError } from '../errors.js';
import { initialize } from '../layers/initializers.js';
import type { Layer, ParamSpec } from '../layers/layer.js';
import { type Shape, shapeToString, sizeOf } from '../shape.js';

/** One trainable tensor's place in the flat parameter buffer. */
export interface ParamEntry extends ParamSpec {
  readonly layerIndex: number;
  /** 'conv2d/kernel', as Keras and TF.js name weights. */
  readonly fullName: string;
  readonly offset: number;
  readonly length: number;
}

/**
 * A built stack of layers and the layout of its one flat parameter buffer: layer by layer, each
 * layer's tensors in Keras order (kernel, then bias). The same layout serves gradients and every
 * optimizer slot, so each of them is one buffer too.
 */
export class Network {
  readonly layers: readonly Layer[];
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  readonly params: readonly ParamEntry[];
  readonly paramCount: number;
  /** params[k] entries of each layer, in order. */
  readonly layerParams: readonly (readonly ParamEntry[])[];

  constructor(layers: readonly Layer[], inputShape: Shape) {
    if (layers.length === 0) throw new CnnError('CNN_ERR_EMPTY_MODEL', 'The model has no layers; add some with model.add(...)');
    this.layers = layers;
    this.inputShape = [...inputShape];
    assignNames(layers);
    let shape = this.inputShape;
    const params: ParamEntry[] = [];
    const layerParams: ParamEntry[][] = [];
    let offset = 0;
    layers.forEach((layer, layerIndex) => {
      try {
        layer.build(shape);
      } catch (e) {
        if (e instanceof CnnError) {
          throw new CnnError(e.code, `Layer ${layerIndex} (${layer.name}) with input shape ${shapeToString(shape)}: ${e.message}`);
        }
        throw e;
      }
      shape = layer.outputShape;
      const own: ParamEntry[] = [];
      for (const spec of layer.paramSpecs()) {
        const length = sizeOf(spec.shape);
        const entry = { ...spec, layerIndex, fullName: `${layer.name}/${spec.name}`, offset, length };
        own.push(entry);
        params.push(entry);
        offset += length;
      }
      layerParams.push(own);
    });
    this.outputShape = shape;
    this.params = params;
    this.layerParams = layerParams;
    this.paramCount = offset;
  }

  get inputSize(): number {
    return sizeOf(this.inputShape);
  }

  get outputSize(): number {
    return sizeOf(this.outputShape);
  }

  /** Fills `params` with the initializers' values for `seed`. */
  initialize(params: Float32Array, seed: number): void {
    this.layerParams.forEach((entries, layerIndex) =>
      entries.forEach((p, paramIndex) => initialize(p.initializer, p.shape, params.subarray(p.offset, p.offset + p.length), seed, layerIndex, paramIndex)),
    );
  }

  /** Per layer, views of each of its tensors inside a buffer of this layout. */
  views(buffer: Float32Array): Float32Array[][] {
    if (buffer.length !== this.paramCount) {
      throw new Error(`buffer of ${buffer.length} floats does not match the model's ${this.paramCount} parameters`);
    }
    return this.layerParams.map((entries) => entries.map((p) => buffer.subarray(p.offset, p.offset + p.length)));
  }
}

/** Keras' naming: the first conv2d is 'conv2d', the next 'conv2d_1', ...; given names are kept. */
function assignNames(layers: readonly Layer[]): void {
  const taken = new Set(layers.map((l) => l.name).filter((n): n is string => n !== undefined));
  const counters = new Map<string, number>();
  for (const layer of layers) {
    if (layer.name !== undefined) continue;
    let k = counters.get(layer.defaultName) ?? 0;
    let name = k === 0 ? layer.defaultName : `${layer.defaultName}_${k}`;
    while (taken.has(name)) name = `${layer.defaultName}_${++k}`;
    counters.set(layer.defaultName, k + 1);
    taken.add(name);
    layer.name = name;
  }
  const seen = new Set<string>();
  for (const layer of layers) {
    if (seen.has(layer.name!)) throw new CnnError('CNN_ERR_BAD_CONFIG', `Two layers are named '${layer.name}'; layer names must be unique`);
    seen.add(layer.name!);
  }
}
