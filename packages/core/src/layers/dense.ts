import { CnnError } from '../errors.js';
import type { ActivationName } from '../kernels/activations.js';
import type { KernelSet } from '../kernels/kernel-set.js';
import type { BufferRequest } from '../memory/arena.js';
import { normalizeConfig } from '../names.js';
import type { Shape } from '../shape.js';
import { type InitializerName, resolveInitializer } from './initializers.js';
import { BASE_CONFIG_KEYS, Layer, type LayerConfig, type LayerIO, type ParamSpec, type PassContext } from './layer.js';
import { activationName, positiveInt } from './options.js';

export interface DenseConfig extends LayerConfig {
  units: number;
  activation?: string;
  useBias?: boolean;
  kernelInitializer?: string;
  biasInitializer?: string;
  inputDim?: number;
}

const KEYS = [...BASE_CONFIG_KEYS, 'units', 'activation', 'useBias', 'kernelInitializer', 'biasInitializer', 'inputDim'];

/** Keras Dense on flat inputs: y = activation(x kernel + bias), kernel [in, units]. */
export class Dense extends Layer {
  readonly className = 'Dense';
  readonly defaultName = 'dense';
  readonly units: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: InitializerName;
  readonly biasInitializer: InitializerName;

  constructor(config: DenseConfig) {
    const c = normalizeConfig<DenseConfig>('dense', config, KEYS);
    super(c.inputDim !== undefined && c.inputShape === undefined ? { ...c, inputShape: [c.inputDim] } : c);
    this.units = positiveInt('dense.units', c.units);
    this.activation = activationName(c.activation);
    this.useBias = c.useBias ?? true;
    this.kernelInitializer = resolveInitializer(c.kernelInitializer ?? 'glorotUniform');
    this.biasInitializer = resolveInitializer(c.biasInitializer ?? 'zeros');
  }

  protected computeOutputShape(inputShape: Shape): Shape {
    if (inputShape.length !== 1) {
      throw new CnnError('CNN_ERR_BAD_SHAPE', `dense expects flat inputs of rank 1 per sample, got shape [${inputShape.join(', ')}]; add layers.flatten() before it`);
    }
    return [this.units];
  }

  override paramSpecs(): ParamSpec[] {
    const specs: ParamSpec[] = [{ name: 'kernel', shape: [this.inputShape[0], this.units], initializer: this.kernelInitializer }];
    if (this.useBias) specs.push({ name: 'bias', shape: [this.units], initializer: this.biasInitializer });
    return specs;
  }

  override scratchRequests(capacity: number, _training: boolean, kernels: KernelSet): BufferRequest[] {
    return [kernels.denseScratch(capacity, this.inputShape[0], this.units)];
  }

  override get finalActivation(): string {
    return this.activation;
  }

  forward(io: LayerIO, ctx: PassContext): void {
    const inDim = this.inputShape[0];
    const k = ctx.kernels;
    const activation = ctx.skipActivation ? 'linear' : this.activation;
    const fused = activation === 'relu' ? 'relu' : 'linear';
    k.denseForward(ctx.n, inDim, this.units, io.x, io.params[0], this.useBias ? io.params[1] : null, io.y, io.scratch.get('acc')!, fused);
    if (fused === 'linear' && activation !== 'linear') k.activationForward(activation, ctx.n * this.units, this.units, io.y, io.y);
  }

  backward(io: LayerIO, ctx: PassContext): void {
    const inDim = this.inputShape[0];
    const k = ctx.kernels;
    const dy = io.dy!;
    const scratch = io.scratch.get('acc')!;
    if (!ctx.skipActivation) k.activationBackward(this.activation, ctx.n * this.units, this.units, io.y, dy, dy);
    k.denseBackwardFilter(ctx.n, inDim, this.units, io.x, dy, io.grads[0], this.useBias ? io.grads[1] : null, scratch);
    if (io.dx) k.denseBackwardInput(ctx.n, inDim, this.units, dy, io.params[0], io.dx, scratch);
  }

  getLayerConfig(): Record<string, unknown> {
    return {
      units: this.units,
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: this.kernelInitializer,
      biasInitializer: this.biasInitializer,
    };
  }
}
