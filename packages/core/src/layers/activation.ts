import type { ActivationName } from '../kernels/activations.js';
import { normalizeConfig } from '../names.js';
import { type Shape, sizeOf } from '../shape.js';
import { BASE_CONFIG_KEYS, Layer, type LayerConfig, type LayerIO, type PassContext } from './layer.js';
import { activationName } from './options.js';

export interface ActivationConfig extends LayerConfig {
  activation: string;
}

/** Keras Activation: applies a named activation; softmax normalises over the last axis. */
export class Activation extends Layer {
  readonly className = 'Activation';
  readonly defaultName = 'activation';
  readonly activation: ActivationName;

  constructor(config: ActivationConfig) {
    const c = normalizeConfig<ActivationConfig>('activation', config, [...BASE_CONFIG_KEYS, 'activation']);
    super(c);
    this.activation = activationName(c.activation);
  }

  protected computeOutputShape(inputShape: Shape): Shape {
    return inputShape;
  }

  override get worksInPlace(): boolean {
    return true;
  }

  override get finalActivation(): string {
    return this.activation;
  }

  forward(io: LayerIO, ctx: PassContext): void {
    const count = ctx.n * sizeOf(this.inputShape);
    ctx.kernels.activationForward(ctx.skipActivation ? 'linear' : this.activation, count, this.inputShape[this.inputShape.length - 1], io.x, io.y);
  }

  backward(io: LayerIO, ctx: PassContext): void {
    if (!io.dx) return;
    const count = ctx.n * sizeOf(this.inputShape);
    ctx.kernels.activationBackward(ctx.skipActivation ? 'linear' : this.activation, count, this.inputShape[this.inputShape.length - 1], io.y, io.dy!, io.dx);
  }

  getLayerConfig(): Record<string, unknown> {
    return { activation: this.activation };
  }
}
