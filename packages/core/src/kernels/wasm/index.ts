/*
 * Fast kernels (WebAssembly SIMD) over a shared KernelHeap. kernels.ts and exports.ts import no
 * Node module; node.ts is Node's loader of dist/kernels.wasm.
 */
export {
  WasmKernels, conv2dForwardScratchBytes, conv2dBackwardInputScratchBytes, conv2dBackwardFilterScratchBytes,
  conv2dScratchBytes, denseScratchBytes, denseGeometry,
} from './kernels.js';
export { instantiateKernels, type KernelExports } from './exports.js';
export { createWasmKernels, kernelsModule, kernelsWasmPath } from './node.js';
export { KernelHeap, KERNEL_HEAP_DEFAULTS, HEAP_HEADER_BYTES, WASM_PAGE_BYTES, type KernelHeapOptions, type HeapView } from '../../memory/kernel-heap.js';
