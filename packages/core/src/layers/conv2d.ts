import { CnnError } from '../errors.js';
import type { ActivationName } from '../kernels/activations.js';
import type { KernelSet } from '../kernels/kernel-set.js';
import { type Padding, type WindowGeometry, windowGeometry } from '../kernels/geometry.js';
import type { BufferRequest } from '../memory/arena.js';
import { normalizeConfig } from '../names.js';
import type { Shape } from '../shape.js';
import { type InitializerName, resolveInitializer } from './initializers.js';
import { BASE_CONFIG_KEYS, Layer, type LayerConfig, type LayerIO, type ParamSpec, type PassContext } from './layer.js';
import { activationName, padding, pair, positiveInt, requireChannelsLast, requireRank } from './options.js';

export interface Conv2DConfig extends LayerConfig {
  filters: number;
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  padding?: Padding;
  activation?: string;
  useBias?: boolean;
  kernelInitializer?: string;
  biasInitializer?: string;
  dataFormat?: 'channelsLast';
  dilationRate?: number | [number, number];
}

const KEYS = [...BASE_CONFIG_KEYS, 'filters', 'kernelSize', 'strides', 'padding', 'activation', 'useBias', 'kernelInitializer', 'biasInitializer', 'dataFormat', 'dilationRate'];

/** Keras Conv2D over NHWC inputs with kernel [kh, kw, inC, filters] (channels last only). */
export class Conv2D extends Layer {
  readonly className = 'Conv2D';
  readonly defaultName = 'conv2d';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: InitializerName;
  readonly biasInitializer: InitializerName;
  #geometry: WindowGeometry | undefined;

  constructor(config: Conv2DConfig) {
    const c = normalizeConfig<Conv2DConfig>('conv2d', config, KEYS);
    super(c);
    this.filters = positiveInt('conv2d.filters', c.filters);
    this.kernelSize = pair('conv2d.kernelSize', c.kernelSize);
    this.strides = pair('conv2d.strides', c.strides ?? 1);
    this.padding = padding('conv2d', c.padding);
    this.activation = activationName(c.activation);
    this.useBias = c.useBias ?? true;
    this.kernelInitializer = resolveInitializer(c.kernelInitializer ?? 'glorotUniform');
    this.biasInitializer = resolveInitializer(c.biasInitializer ?? 'zeros');
    const dilation = pair('conv2d.dilationRate', c.dilationRate ?? 1);
    if (dilation[0] !== 1 || dilation[1] !== 1) throw new CnnError('CNN_ERR_BAD_CONFIG', 'conv2d: dilationRate other than 1 is not supported yet');
    requireChannelsLast('conv2d', c.dataFormat);
  }

  get geometry(): WindowGeometry {
    if (!this.#geometry) throw new Error('conv2d is not built yet');
    return this.#geometry;
  }

  protected computeOutputShape(inputShape: Shape): Shape {
    requireRank('conv2d', inputShape, 3, '[height, width, channels]');
    this.#geometry = windowGeometry(inputShape, this.kernelSize, this.strides, this.padding);
    return [this.#geometry.outH, this.#geometry.outW, this.filters];
  }

  override paramSpecs(): ParamSpec[] {
    const specs: ParamSpec[] = [
      { name: 'kernel', shape: [this.kernelSize[0], this.kernelSize[1], this.inputShape[2], this.filters], initializer: this.kernelInitializer },
    ];
    if (this.useBias) specs.push({ name: 'bias', shape: [this.filters], initializer: this.biasInitializer });
    return specs;
  }

  override scratchRequests(_capacity: number, _training: boolean, kernels: KernelSet): BufferRequest[] {
    return [kernels.conv2dScratch(this.geometry, this.filters)];
  }

  override get finalActivation(): string {
    return this.activation;
  }

  forward(io: LayerIO, ctx: PassContext): void {
    const g = this.geometry;
    const k = ctx.kernels;
    const activation = ctx.skipActivation ? 'linear' : this.activation;
    // relu rides along with the convolution's output writes; others run after it.
    const fused = activation === 'relu' ? 'relu' : 'linear';
    k.conv2dForward(g, this.filters, ctx.n, io.x, io.params[0], this.useBias ? io.params[1] : null, io.y, io.scratch.get('acc')!, fused);
    if (fused === 'linear' && activation !== 'linear') k.activationForward(activation, ctx.n * g.outH * g.outW * this.filters, this.filters, io.y, io.y);
  }

  backward(io: LayerIO, ctx: PassContext): void {
    const g = this.geometry;
    const k = ctx.kernels;
    const dy = io.dy!;
    const scratch = io.scratch.get('acc')!;
    if (!ctx.skipActivation) k.activationBackward(this.activation, ctx.n * g.outH * g.outW * this.filters, this.filters, io.y, dy, dy);
    k.conv2dBackwardFilter(g, this.filters, ctx.n, io.x, dy, io.grads[0], this.useBias ? io.grads[1] : null, scratch);
    if (io.dx) k.conv2dBackwardInput(g, this.filters, ctx.n, dy, io.params[0], io.dx, scratch);
  }

  getLayerConfig(): Record<string, unknown> {
    return {
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: this.kernelInitializer,
      biasInitializer: this.biasInitializer,
    };
  }
}
