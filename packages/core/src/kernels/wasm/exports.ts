/*
 * The raw interface of dist/kernels.wasm (built from packages/core/assembly): every pointer is a
 * byte offset into the shared memory the module imports. Use the checked wrappers in kernels.ts;
 * this file only instantiates. No Node-only import here: a browser loader compiles the module its
 * own way (WebAssembly.compileStreaming) and calls instantiateKernels the same.
 */

import { wasmApi, type WasmMemory, type WasmModule } from './wasm-api.js';

type Ptr = number;
type Geometry = [inH: number, inW: number, inC: number, kH: number, kW: number, sH: number, sW: number, outH: number, outW: number, padTop: number, padLeft: number];

export interface KernelExports {
  conv2dForward(x: Ptr, w: Ptr, bias: Ptr, y: Ptr, scratch: Ptr, n: number, ...rest: [...Geometry, outC: number, relu: number]): void;
  conv2dBackwardInput(dy: Ptr, w: Ptr, dx: Ptr, scratch: Ptr, n: number, ...rest: [...Geometry, outC: number]): void;
  conv2dBackwardFilter(x: Ptr, dy: Ptr, dw: Ptr, dbias: Ptr, scratch: Ptr, n: number, ...rest: [...Geometry, outC: number]): void;
  conv2dForwardScratch(...rest: [...Geometry, outC: number]): number;
  conv2dBackwardInputScratch(...rest: [...Geometry, outC: number]): number;
  conv2dBackwardFilterScratch(...rest: [...Geometry, outC: number]): number;
  extremePoolForward(isMax: number, x: Ptr, y: Ptr, arg: Ptr, n: number, ...g: Geometry): void;
  extremePoolBackward(n: number, inSize: number, outSize: number, dy: Ptr, arg: Ptr, dx: Ptr): void;
  avgPoolForward(x: Ptr, y: Ptr, n: number, ...g: Geometry): void;
  avgPoolBackward(dy: Ptr, dx: Ptr, n: number, ...g: Geometry): void;
  reluForward(x: Ptr, y: Ptr, count: number): void;
  reluBackward(y: Ptr, dy: Ptr, dx: Ptr, count: number): void;
  addInto(a: Ptr, b: Ptr, begin: number, end: number): void;
  allFinite(a: Ptr, begin: number, end: number): number;
  bytesToFloats(src: Ptr, dst: Ptr, count: number, scale: number): void;
  adamUpdate(params: Ptr, grad: Ptr, m: Ptr, v: Ptr, begin: number, end: number, alpha: number, oneMinusBeta1: number, oneMinusBeta2: number, epsilon: number, divisor: number): void;
  sgdUpdate(params: Ptr, grad: Ptr, velocity: Ptr, begin: number, end: number, learningRate: number, momentum: number, nesterov: number, divisor: number): void;
  softmaxForward(x: Ptr, y: Ptr, rows: number, width: number): void;
  softmaxBackward(y: Ptr, dy: Ptr, dx: Ptr, rows: number, width: number): void;
  softmaxCrossEntropy(rows: number, width: number, out: Ptr, sparse: Ptr, dense: Ptr, grad: Ptr): number;
  dropoutForward(x: Ptr, y: Ptr, keep: Ptr, count: number, rate: number, scale: number, k0: number, k1: number, a: number, b: number, first: number): void;
  dropoutBackward(dy: Ptr, dx: Ptr, keep: Ptr, count: number, scale: number): void;
}

/**
 * Instantiates the kernels' module on `memory` (synchronously; the module is compiled once per
 * process and may be posted to worker threads). exp and log are the host's Math functions, which
 * the reference kernels call too.
 */
export function instantiateKernels(module: WasmModule, memory: WasmMemory): KernelExports {
  const instance = new (wasmApi().Instance)(module, { env: { memory, exp: Math.exp, log: Math.log } });
  return instance.exports as unknown as KernelExports;
}
