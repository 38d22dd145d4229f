import type { Optimizer } from '../optimizers/optimizer.js';

/**
 * The one parameter update: turns the step's summed gradient into the batch mean and applies the
 * optimizer, over params[begin, end). Element-wise, so threads may each take a range and the bits
 * are those of one pass over everything.
 */
export function applyUpdate(
  optimizer: Optimizer, params: Float32Array, gradSum: Float32Array, slots: readonly Float32Array[],
  batchSize: number, iteration: number, begin = 0, end = params.length,
): void {
  for (let i = begin; i < end; i++) gradSum[i] /= batchSize;
  optimizer.apply(params, gradSum, slots, iteration, begin, end);
}
