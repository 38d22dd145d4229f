import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CnnError } from '../../errors.js';
import { KernelHeap } from '../../memory/kernel-heap.js';
import { WasmKernels } from './kernels.js';
import { wasmApi, type WasmModule } from './wasm-api.js';

/*
 * Node's way to the kernels' module: read dist/kernels.wasm from the package. The only file of the
 * fast kernels that imports Node modules; a browser build supplies the compiled module itself.
 */

/** From dist/kernels/wasm/ (built) or src/kernels/wasm/ (tests on sources) to dist/kernels.wasm. */
const CANDIDATES = ['../../kernels.wasm', '../../../dist/kernels.wasm'];

let compiled: WasmModule | undefined;

/** The path of dist/kernels.wasm, or an error saying how to build it. */
export function kernelsWasmPath(): string {
  for (const rel of CANDIDATES) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new CnnError(
    'CNN_ERR_NO_WASM',
    'dist/kernels.wasm of @cnn/core is missing: build it with `pnpm --filter @cnn/core run build:wasm` (pnpm install does it too)',
  );
}

/** The compiled kernels' module, compiled once per thread on first use. */
export function kernelsModule(): WasmModule {
  compiled ??= new (wasmApi().Module)(readFileSync(kernelsWasmPath()));
  return compiled;
}

/** Fast kernels on `heap` (a fresh default heap when none is given). */
export function createWasmKernels(heap: KernelHeap = KernelHeap.create()): WasmKernels {
  return new WasmKernels(heap, kernelsModule());
}
