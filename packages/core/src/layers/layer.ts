import type { KernelSet } from '../kernels/kernel-set.js';
import type { ArenaView, BufferRequest } from '../memory/arena.js';
import type { Shape } from '../shape.js';
import type { InitializerName } from './initializers.js';

/** A trainable tensor of a layer, in Keras order and shape (kernel before bias). */
export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly initializer: InitializerName;
}

/**
 * The buffers one layer reads and writes in one workspace. Activation buffers hold `capacity`
 * samples; a pass uses the first n. dx is null for the first layer (nothing needs it); dy/dx are
 * null in inference workspaces. `grads` is re-pointed by the workspace to the gradient slot being
 * filled, so layers never know where their gradient lives.
 */
export interface LayerIO {
  x: Float32Array;
  y: Float32Array;
  dx: Float32Array | null;
  dy: Float32Array | null;
  params: Float32Array[];
  grads: Float32Array[];
  scratch: Map<string, ArenaView>;
}

/** What a forward or backward pass needs to know besides the buffers. */
export interface PassContext {
  /** Samples in this pass (<= the workspace's capacity). */
  n: number;
  training: boolean;
  seed: number;
  /** Optimizer step this pass belongs to: keys dropout masks. */
  step: number;
  /** Position in the global batch of this pass's first sample: keys dropout masks. */
  firstSample: number;
  /** Position of the layer in its model: keys dropout masks and initializers. */
  layerIndex: number;
  /** The loss consumes this layer's pre-activation output (fused softmax cross-entropy). */
  skipActivation: boolean;
  /** The arithmetic this pass runs on (the workspace's kernel set). */
  kernels: KernelSet;
}

export interface LayerConfig {
  name?: string;
  inputShape?: readonly number[];
  batchInputShape?: readonly (number | null)[];
}

export const BASE_CONFIG_KEYS = ['name', 'inputShape', 'batchInputShape', 'trainable', 'dtype'] as const;

/**
 * A layer owns its configuration, its shapes and its forward and backward arithmetic; it holds no
 * buffers of its own (those live in a workspace), so one layer object can serve any number of
 * threads.
 */
export abstract class Layer {
  /** Keras/TF.js class name, as stored in model.json ('Conv2D'). */
  abstract readonly className: string;
  /** Keras' default layer name stem ('conv2d'). */
  abstract readonly defaultName: string;
  name: string | undefined;
  readonly declaredInputShape: readonly number[] | undefined;
  #inputShape: Shape | undefined;
  #outputShape: Shape | undefined;

  constructor(config: LayerConfig) {
    this.name = config.name;
    const batchShape = config.batchInputShape;
    this.declaredInputShape = config.inputShape ?? (batchShape ? (batchShape.slice(1) as number[]) : undefined);
  }

  get inputShape(): Shape {
    if (!this.#inputShape) throw new Error(`layer ${this.name ?? this.defaultName} is not built yet`);
    return this.#inputShape;
  }

  get outputShape(): Shape {
    if (!this.#outputShape) throw new Error(`layer ${this.name ?? this.defaultName} is not built yet`);
    return this.#outputShape;
  }

  get built(): boolean {
    return this.#outputShape !== undefined;
  }

  /** Checks the input shape and fixes the output shape; called once when the model is built. */
  build(inputShape: Shape): void {
    this.#inputShape = [...inputShape];
    this.#outputShape = this.computeOutputShape(inputShape);
  }

  protected abstract computeOutputShape(inputShape: Shape): Shape;

  paramSpecs(): ParamSpec[] {
    return [];
  }

  /** Buffers beyond x/y/dx/dy that the layer needs for `capacity` samples on these kernels. */
  scratchRequests(_capacity: number, _training: boolean, _kernels: KernelSet): BufferRequest[] {
    return [];
  }

  /** The output is the input itself (flatten): the workspace aliases the two buffers. */
  get aliasesInput(): boolean {
    return false;
  }

  /** Forward may write its output over its input (element-wise layers at inference). */
  get worksInPlace(): boolean {
    return false;
  }

  /** The layer ends in an activation the loss can fuse with (softmax). */
  get finalActivation(): string {
    return 'linear';
  }

  abstract forward(io: LayerIO, ctx: PassContext): void;

  /** Writes dx (when not null) and this layer's parameter gradients for the n samples. */
  abstract backward(io: LayerIO, ctx: PassContext): void;

  /** The layer-specific part of the config (name and input shape are added by the model). */
  abstract getLayerConfig(): Record<string, unknown>;

  getConfig(): Record<string, unknown> {
    const config: Record<string, unknown> = { name: this.name ?? this.defaultName, ...this.getLayerConfig() };
    if (this.declaredInputShape) config.batchInputShape = [null, ...this.declaredInputShape];
    return config;
  }
}
