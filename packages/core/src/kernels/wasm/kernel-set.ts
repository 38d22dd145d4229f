import type { Optimizer } from '../../optimizers/optimizer.js';
import type { KernelSet } from '../kernel-set.js';
import { type WasmKernels, conv2dScratchBytes, denseScratchBytes } from './kernels.js';

/**
 * The WebAssembly SIMD kernels as a KernelSet. Every buffer they touch must come from the kernel
 * heap the module instance was made on (the process heap); scratch is float32.
 */
export function wasmKernelSet(k: WasmKernels): KernelSet {
  return {
    id: 'wasm-simd128/1',
    conv2dScratch: (g, outC) => ({ name: 'acc', kind: 'f32', length: Math.ceil(conv2dScratchBytes(g, outC) / 4) }),
    denseScratch: (capacity, inDim, outDim) => ({ name: 'acc', kind: 'f32', length: Math.ceil(denseScratchBytes(capacity, inDim, outDim) / 4) }),
    conv2dForward: (g, outC, n, x, w, bias, y, scratch, activation) => k.conv2dForward(g, outC, n, x, w, bias, y, scratch as Float32Array, activation),
    conv2dBackwardInput: (g, outC, n, dy, w, dx, scratch) => k.conv2dBackwardInput(g, outC, n, dy, w, dx, scratch as Float32Array),
    conv2dBackwardFilter: (g, outC, n, x, dy, dw, dbias, scratch) => k.conv2dBackwardFilter(g, outC, n, x, dy, dw, dbias, scratch as Float32Array),
    denseForward: (n, inDim, outDim, x, w, bias, y, scratch, activation) => k.denseForward(n, inDim, outDim, x, w, bias, y, scratch as Float32Array, activation),
    denseBackwardInput: (n, inDim, outDim, dy, w, dx, scratch) => k.denseBackwardInput(n, inDim, outDim, dy, w, dx, scratch as Float32Array),
    denseBackwardFilter: (n, inDim, outDim, x, dy, dw, dbias, scratch) => k.denseBackwardFilter(n, inDim, outDim, x, dy, dw, dbias, scratch as Float32Array),
    extremePoolForward: (kind, g, n, x, y, argIndex) => k.extremePoolForward(kind, g, n, x, y, argIndex),
    extremePoolBackward: (n, inSize, outSize, dy, argIndex, dx) => k.extremePoolBackward(n, inSize, outSize, dy, argIndex, dx),
    avgPoolForward: (g, n, x, y) => k.avgPoolForward(g, n, x, y),
    avgPoolBackward: (g, n, dy, dx) => k.avgPoolBackward(g, n, dy, dx),
    activationForward: (kind, count, width, x, y) => k.activationForward(kind, count, width, x, y),
    activationBackward: (kind, count, width, y, dy, dx) => k.activationBackward(kind, count, width, y, dy, dx),
    dropoutForward: (x, y, keep, count, rate, seed, layerIndex, step, first) => k.dropoutForward(x, y, keep, count, rate, seed, layerIndex, step, first),
    dropoutBackward: (dy, dx, keep, count, rate) => k.dropoutBackward(dy, dx, keep, count, rate),
    addInto: (a, b, begin, end) => k.addInto(a, b, begin, end),
    allFinite: (a, begin, end) => k.allFinite(a, begin, end),
    bytesToFloats: (src, dst, count, scale) => k.bytesToFloats(src, dst, count, scale),
    softmaxCrossEntropyFromLogits: (rows, width, out, targets, grad) => k.softmaxCrossEntropyFromLogits(rows, width, out, targets, grad),
    applyUpdate: (optimizer: Optimizer, params, gradSum, slots, batchSize, iteration, begin, end) =>
      k.applyUpdate(optimizer, params, gradSum, slots, batchSize, iteration, begin, end),
  };
}
