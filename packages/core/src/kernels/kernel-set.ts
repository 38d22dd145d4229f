import type { ArenaView, BufferRequest } from '../memory/arena.js';
import type { Optimizer } from '../optimizers/optimizer.js';
import type { ActivationName } from './activations.js';
import type { WindowGeometry } from './geometry.js';
import type { Targets } from './losses.js';

/** An activation a convolution or dense kernel can apply as it writes its output. */
export type FusedActivation = 'linear' | 'relu';

/**
 * The arithmetic of training and inference, behind one interface so that layers do not care
 * whether it runs as the TypeScript reference or as WebAssembly SIMD. Every thread and host of a run
 * must use the same set (its `id` is part of the model fingerprint): the sets agree to rounding, not
 * bit for bit, on convolutions and dense layers.
 */
export interface KernelSet {
  /** Names the arithmetic: equal ids give equal bits. */
  readonly id: string;
  /** Scratch one conv2d layer needs (any of its three kernels, any n). */
  conv2dScratch(g: WindowGeometry, outC: number): BufferRequest;
  /** Scratch one dense layer needs for up to `capacity` rows. */
  denseScratch(capacity: number, inDim: number, outDim: number): BufferRequest;
  conv2dForward(g: WindowGeometry, outC: number, n: number, x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, scratch: ArenaView, activation: FusedActivation): void;
  conv2dBackwardInput(g: WindowGeometry, outC: number, n: number, dy: Float32Array, w: Float32Array, dx: Float32Array, scratch: ArenaView): void;
  conv2dBackwardFilter(g: WindowGeometry, outC: number, n: number, x: Float32Array, dy: Float32Array, dw: Float32Array, dbias: Float32Array | null, scratch: ArenaView): void;
  denseForward(n: number, inDim: number, outDim: number, x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, scratch: ArenaView, activation: FusedActivation): void;
  denseBackwardInput(n: number, inDim: number, outDim: number, dy: Float32Array, w: Float32Array, dx: Float32Array, scratch: ArenaView): void;
  denseBackwardFilter(n: number, inDim: number, outDim: number, x: Float32Array, dy: Float32Array, dw: Float32Array, dbias: Float32Array | null, scratch: ArenaView): void;
  extremePoolForward(kind: 'max' | 'min', g: WindowGeometry, n: number, x: Float32Array, y: Float32Array, argIndex: Int32Array | null): void;
  extremePoolBackward(n: number, inSize: number, outSize: number, dy: Float32Array, argIndex: Int32Array, dx: Float32Array): void;
  avgPoolForward(g: WindowGeometry, n: number, x: Float32Array, y: Float32Array): void;
  avgPoolBackward(g: WindowGeometry, n: number, dy: Float32Array, dx: Float32Array): void;
  activationForward(kind: ActivationName, count: number, width: number, x: Float32Array, y: Float32Array): void;
  activationBackward(kind: ActivationName, count: number, width: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** Inverted dropout with counter-based masks (see kernels/dropout.ts); bit for bit in every set. */
  dropoutForward(x: Float32Array, y: Float32Array, keep: Uint8Array, count: number, rate: number, seed: number, layerIndex: number, step: number, first: number): void;
  dropoutBackward(dy: Float32Array, dx: Float32Array, keep: Uint8Array, count: number, rate: number): void;
  /** a[i] += b[i] over [begin, end); bit for bit in every set. */
  addInto(a: Float32Array, b: Float32Array, begin?: number, end?: number): void;
  /** Whether every a[i] over [begin, end) is finite: the check of a gradient before it may update. */
  allFinite(a: Float32Array, begin?: number, end?: number): boolean;
  /** Softmax cross-entropy from logits over a shard, in place (see kernels/losses.ts); bit for bit in every set. */
  softmaxCrossEntropyFromLogits(rows: number, width: number, out: Float32Array, targets: Targets, grad: Float32Array | null): number;
  /** dst[i] = src[i] * scale over count bytes, rounded to float32 (uint8 samples to inputs); bit for bit in every set. */
  bytesToFloats(src: Uint8Array, dst: Float32Array, count: number, scale: number): void;
  /** gradSum /= batchSize, then the optimizer over [begin, end); bit for bit in every set. */
  applyUpdate(optimizer: Optimizer, params: Float32Array, gradSum: Float32Array, slots: readonly Float32Array[], batchSize: number, iteration: number, begin?: number, end?: number): void;
}
