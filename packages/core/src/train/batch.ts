import { CnnError } from '../errors.js';
import type { KernelSet } from '../kernels/kernel-set.js';
import type { DenseTargets, SparseTargets, Targets } from '../kernels/losses.js';
import type { Loss } from '../losses/index.js';
import type { Network } from '../model/network.js';
import { shapeToString, sameShape } from '../shape.js';
import { type Tensor, byteLut } from '../tensor.js';

/** Where a pass's inputs go: float rows, the bytes uint8 samples pass through, and the kernels that convert them. */
export interface InputBuffers {
  readonly input: Float32Array;
  readonly inputBytes: Uint8Array;
  readonly kernels: KernelSet;
}

/**
 * Copies the samples indices[start .. start+n) of x into `to.input` as float32 rows. uint8 samples
 * are copied as bytes (memcpy) and converted in one kernel call: the per-element conversion in
 * JavaScript took 8% of a small model's step.
 */
export function gatherInputs(x: Tensor, indices: Int32Array | null, start: number, n: number, to: InputBuffers): void {
  const row = x.rowSize;
  const src = x.storage;
  const dst = to.input;
  if (src instanceof Uint8Array) {
    const bytes = to.inputBytes;
    if (indices) {
      for (let s = 0; s < n; s++) {
        const from = indices[start + s] * row;
        bytes.set(src.subarray(from, from + row), s * row);
      }
    } else {
      bytes.set(src.subarray(start * row, (start + n) * row));
    }
    to.kernels.bytesToFloats(bytes, dst, n * row, x.scale);
    return;
  }
  for (let s = 0; s < n; s++) {
    const from = (indices ? indices[start + s] : start + s) * row;
    if (src instanceof Float32Array) dst.set(src.subarray(from, from + row), s * row);
    else for (let j = 0; j < row; j++) dst[s * row + j] = src[from + j];
  }
}

/** Copies the targets of the same samples into the workspace's target buffer of the loss's kind. */
export function gatherTargets(
  y: Tensor, sparse: boolean, width: number, indices: Int32Array | null, start: number, n: number,
  sparseDst: SparseTargets, denseDst: DenseTargets,
): Targets {
  const src = y.storage;
  if (sparse) {
    const dst = sparseDst.sparse;
    for (let s = 0; s < n; s++) dst[s] = src[indices ? indices[start + s] : start + s];
    return sparseDst;
  }
  const lut = src instanceof Uint8Array ? byteLut(y.scale) : null;
  for (let s = 0; s < n; s++) {
    const from = (indices ? indices[start + s] : start + s) * width;
    for (let j = 0; j < width; j++) denseDst.dense[s * width + j] = lut ? lut[src[from + j] as number] : src[from + j];
  }
  return denseDst;
}

/** Checks that x fits the model's input. */
export function validateInputs(network: Network, x: Tensor, what: string): void {
  if (!(x && typeof x === 'object' && 'storage' in x)) {
    throw new CnnError('CNN_ERR_BAD_INPUT', `${what}: x must be a Tensor (use tensor(values, shape)), got ${typeof x}`);
  }
  const sample = x.shape.slice(1);
  if (x.shape.length < 1 || !sameShape(sample, network.inputShape)) {
    throw new CnnError('CNN_ERR_BAD_SHAPE', `${what}: x has shape ${shapeToString(x.shape)} but the model expects [N, ${network.inputShape.join(', ')}]`);
  }
}

/** Checks that y fits the loss and the model's output; sparse labels must be class indices in range. */
export function validateTargets(network: Network, loss: Loss, x: Tensor, y: Tensor, what: string): void {
  if (!(y && typeof y === 'object' && 'storage' in y)) {
    throw new CnnError('CNN_ERR_BAD_INPUT', `${what}: y must be a Tensor, got ${typeof y}`);
  }
  const n = x.shape[0];
  if (y.shape[0] !== n) {
    throw new CnnError('CNN_ERR_BAD_SHAPE', `${what}: x has ${n} samples but y has ${y.shape[0]}; they must match`);
  }
  const width = network.outputSize;
  if (loss.sparseTargets) {
    const ok = y.shape.length === 1 || (y.shape.length === 2 && y.shape[1] === 1);
    if (!ok) {
      throw new CnnError('CNN_ERR_BAD_SHAPE', `${what}: ${loss.name} expects class indices of shape [N] or [N, 1], got ${shapeToString(y.shape)}; for one-hot targets use 'categorical_crossentropy'`);
    }
    const classes = width === 1 ? 2 : width;
    for (let i = 0; i < y.storage.length; i++) {
      const v = y.storage[i];
      if (!Number.isInteger(v) || v < 0 || v >= classes) {
        throw new CnnError('CNN_ERR_BAD_LABEL', `${what}: label ${v} at index ${i} is not a class index in [0, ${classes - 1}] (the model has ${width} outputs)`);
      }
    }
    return;
  }
  if (!sameShape(y.shape.slice(1), network.outputShape)) {
    throw new CnnError('CNN_ERR_BAD_SHAPE', `${what}: ${loss.name} expects targets of shape [N, ${network.outputShape.join(', ')}], got ${shapeToString(y.shape)}`);
  }
}
