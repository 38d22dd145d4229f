import { type Padding, type WindowGeometry, windowGeometry } from '../kernels/geometry.js';
import type { PoolKind } from '../kernels/pool2d.js';
import type { BufferRequest } from '../memory/arena.js';
import { normalizeConfig } from '../names.js';
import { type Shape, sizeOf } from '../shape.js';
import { BASE_CONFIG_KEYS, Layer, type LayerConfig, type LayerIO, type PassContext } from './layer.js';
import { padding, pair, requireChannelsLast, requireRank } from './options.js';

export interface Pooling2DConfig extends LayerConfig {
  poolSize?: number | [number, number];
  strides?: number | [number, number];
  padding?: Padding;
  dataFormat?: 'channelsLast';
}

const KEYS = [...BASE_CONFIG_KEYS, 'poolSize', 'strides', 'padding', 'dataFormat'];

/** Shared by max, min and average pooling: Keras' defaults (pool 2x2, strides = poolSize, valid). */
abstract class Pooling2D extends Layer {
  abstract readonly kind: PoolKind;
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  #geometry: WindowGeometry | undefined;

  constructor(what: string, config: Pooling2DConfig = {}) {
    const c = normalizeConfig<Pooling2DConfig>(what, config, KEYS);
    super(c);
    this.poolSize = pair(`${what}.poolSize`, c.poolSize ?? 2);
    this.strides = pair(`${what}.strides`, c.strides ?? this.poolSize);
    this.padding = padding(what, c.padding);
    requireChannelsLast(what, c.dataFormat);
  }

  get geometry(): WindowGeometry {
    if (!this.#geometry) throw new Error(`${this.defaultName} is not built yet`);
    return this.#geometry;
  }

  protected computeOutputShape(inputShape: Shape): Shape {
    requireRank(this.defaultName, inputShape, 3, '[height, width, channels]');
    this.#geometry = windowGeometry(inputShape, this.poolSize, this.strides, this.padding);
    return [this.#geometry.outH, this.#geometry.outW, inputShape[2]];
  }

  override scratchRequests(capacity: number, training: boolean): BufferRequest[] {
    // The winner of each window, to route gradients back; inference needs none.
    return this.kind === 'avg' || !training ? [] : [{ name: 'argIndex', kind: 'i32', length: capacity * sizeOf(this.outputShape) }];
  }

  forward(io: LayerIO, ctx: PassContext): void {
    if (this.kind === 'avg') {
      ctx.kernels.avgPoolForward(this.geometry, ctx.n, io.x, io.y);
      return;
    }
    ctx.kernels.extremePoolForward(this.kind, this.geometry, ctx.n, io.x, io.y, (io.scratch.get('argIndex') as Int32Array | undefined) ?? null);
  }

  backward(io: LayerIO, ctx: PassContext): void {
    if (!io.dx) return;
    if (this.kind === 'avg') ctx.kernels.avgPoolBackward(this.geometry, ctx.n, io.dy!, io.dx);
    else ctx.kernels.extremePoolBackward(ctx.n, sizeOf(this.inputShape), sizeOf(this.outputShape), io.dy!, io.scratch.get('argIndex') as Int32Array, io.dx);
  }

  getLayerConfig(): Record<string, unknown> {
    return { poolSize: this.poolSize, strides: this.strides, padding: this.padding };
  }
}

export class MaxPooling2D extends Pooling2D {
  readonly className = 'MaxPooling2D';
  readonly defaultName = 'max_pooling2d';
  readonly kind = 'max';
  constructor(config?: Pooling2DConfig) {
    super('maxPooling2d', config);
  }
}

export class AveragePooling2D extends Pooling2D {
  readonly className = 'AveragePooling2D';
  readonly defaultName = 'average_pooling2d';
  readonly kind = 'avg';
  constructor(config?: Pooling2DConfig) {
    super('averagePooling2d', config);
  }
}

/** Not in Keras (which has no min pooling); the mirror of MaxPooling2D. */
export class MinPooling2D extends Pooling2D {
  readonly className = 'MinPooling2D';
  readonly defaultName = 'min_pooling2d';
  readonly kind = 'min';
  constructor(config?: Pooling2DConfig) {
    super('minPooling2d', config);
  }
}
