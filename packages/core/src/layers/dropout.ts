import { CnnError } from '../errors.js';
import type { BufferRequest } from '../memory/arena.js';
import { normalizeConfig } from '../names.js';
import { type Shape, sizeOf } from '../shape.js';
import { BASE_CONFIG_KEYS, Layer, type LayerConfig, type LayerIO, type PassContext } from './layer.js';

export interface DropoutConfig extends LayerConfig {
  rate: number;
}

/**
 * Inverted dropout (Keras): in training each value is kept with probability 1 - rate and scaled by
 * 1 / (1 - rate); at inference the layer is the identity. The keep decision for value j of the
 * sample at position p of step t's global batch is the counter-based draw (seed, dropout, layer, t;
 * p * size + j), so it is the same whichever thread or host processes the sample.
 */
export class Dropout extends Layer {
  readonly className = 'Dropout';
  readonly defaultName = 'dropout';
  readonly rate: number;

  constructor(config: DropoutConfig) {
    const c = normalizeConfig<DropoutConfig>('dropout', config, [...BASE_CONFIG_KEYS, 'rate', 'noiseShape', 'seed']);
    super(c);
    if (typeof c.rate !== 'number' || !(c.rate >= 0 && c.rate < 1)) {
      throw new CnnError('CNN_ERR_BAD_CONFIG', `dropout.rate must be a number in [0, 1), got ${JSON.stringify(c.rate)}`);
    }
    // Keras configs carry noise_shape: null; a real noise shape (masks shared along axes) is not implemented.
    const noiseShape = (c as { noiseShape?: unknown }).noiseShape;
    if (noiseShape !== undefined && noiseShape !== null) {
      throw new CnnError('CNN_ERR_BAD_CONFIG', `dropout.noiseShape is not supported yet, got ${JSON.stringify(noiseShape)}; leave it out for independent masks`);
    }
    this.rate = c.rate;
  }

  protected computeOutputShape(inputShape: Shape): Shape {
    return inputShape;
  }

  override get worksInPlace(): boolean {
    return true;
  }

  override scratchRequests(capacity: number, training: boolean): BufferRequest[] {
    return training ? [{ name: 'keep', kind: 'u8', length: capacity * sizeOf(this.inputShape) }] : [];
  }

  forward(io: LayerIO, ctx: PassContext): void {
    const count = ctx.n * sizeOf(this.inputShape);
    if (!ctx.training || this.rate === 0) {
      io.y.set(io.x.subarray(0, count));
      return;
    }
    const first = ctx.firstSample * sizeOf(this.inputShape);
    ctx.kernels.dropoutForward(io.x, io.y, io.scratch.get('keep') as Uint8Array, count, this.rate, ctx.seed, ctx.layerIndex, ctx.step, first);
  }

  backward(io: LayerIO, ctx: PassContext): void {
    if (!io.dx) return;
    const count = ctx.n * sizeOf(this.inputShape);
    if (this.rate === 0) {
      io.dx.set(io.dy!.subarray(0, count));
      return;
    }
    ctx.kernels.dropoutBackward(io.dy!, io.dx, io.scratch.get('keep') as Uint8Array, count, this.rate);
  }

  getLayerConfig(): Record<string, unknown> {
    return { rate: this.rate };
  }
}
