import type { Optimizer } from '../optimizers/optimizer.js';
import { applyUpdate } from '../train/update.js';
import { type ActivationName, activationBackward, activationForward } from './activations.js';
import { conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, conv2dScratchSize } from './conv2d.js';
import { denseBackwardFilter, denseBackwardInput, denseForward, denseScratchSize } from './dense.js';
import type { WindowGeometry } from './geometry.js';
import type { FusedActivation, KernelSet } from './kernel-set.js';
import { avgPoolBackward, avgPoolForward, extremePoolBackward, extremePoolForward } from './pool2d.js';
import { addInto, allFinite } from './reduce.js';
import { bytesToFloats } from './bytes.js';
import { softmaxCrossEntropyFromLogits } from './losses.js';
import { dropoutBackward, dropoutForward } from './dropout.js';

function applyActivation(activation: FusedActivation, count: number, width: number, y: Float32Array): void {
  if (activation === 'relu') activationForward('relu', count, width, y, y);
}

/** The TypeScript kernels: the reference every fast kernel is tested against. Scratch is float64. */
export const referenceKernels: KernelSet = {
  id: 'reference-js/1',
  conv2dScratch: (g, outC) => ({ name: 'acc', kind: 'f64', length: conv2dScratchSize(g, outC) }),
  denseScratch: (_capacity, _inDim, outDim) => ({ name: 'acc', kind: 'f64', length: denseScratchSize(outDim) }),
  conv2dForward(g, outC, n, x, w, bias, y, scratch, activation) {
    conv2dForward(g, outC, n, x, w, bias, y, scratch as Float64Array);
    applyActivation(activation, n * g.outH * g.outW * outC, outC, y);
  },
  conv2dBackwardInput: (g, outC, n, dy, w, dx, scratch) => conv2dBackwardInput(g, outC, n, dy, w, dx, scratch as Float64Array),
  conv2dBackwardFilter: (g, outC, n, x, dy, dw, dbias, scratch) => conv2dBackwardFilter(g, outC, n, x, dy, dw, dbias, scratch as Float64Array),
  denseForward(n, inDim, outDim, x, w, bias, y, scratch, activation) {
    denseForward(n, inDim, outDim, x, w, bias, y, scratch as Float64Array);
    applyActivation(activation, n * outDim, outDim, y);
  },
  denseBackwardInput: (n, inDim, outDim, dy, w, dx) => denseBackwardInput(n, inDim, outDim, dy, w, dx),
  denseBackwardFilter: (n, inDim, outDim, x, dy, dw, dbias, scratch) => denseBackwardFilter(n, inDim, outDim, x, dy, dw, dbias, scratch as Float64Array),
  extremePoolForward: (kind: 'max' | 'min', g: WindowGeometry, n, x, y, argIndex) => extremePoolForward(kind, g, n, x, y, argIndex),
  extremePoolBackward,
  avgPoolForward,
  avgPoolBackward,
  activationForward: (kind: ActivationName, count, width, x, y) => activationForward(kind, count, width, x, y),
  activationBackward: (kind: ActivationName, count, width, y, dy, dx) => activationBackward(kind, count, width, y, dy, dx),
  dropoutForward,
  dropoutBackward,
  addInto,
  allFinite,
  bytesToFloats,
  softmaxCrossEntropyFromLogits,
  applyUpdate: (optimizer: Optimizer, params, gradSum, slots, batchSize, iteration, begin, end) =>
    applyUpdate(optimizer, params, gradSum, slots, batchSize, iteration, begin, end),
};
