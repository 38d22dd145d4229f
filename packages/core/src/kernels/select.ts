import { processHeap } from '../memory/process-heap.js';
import type { KernelSet } from './kernel-set.js';
import { referenceKernels } from './reference.js';
import { wasmKernelSet } from './wasm/kernel-set.js';
import { WasmKernels } from './wasm/kernels.js';
import { kernelsModule } from './wasm/node.js';

/**
 * Chooses this thread's kernels: WebAssembly SIMD by default, the TypeScript reference with
 * CNN_KERNELS=reference. Worker threads inherit the environment, so a host's threads agree; hosts
 * of a cluster compare the choice through the model fingerprint.
 */
export const KERNELS_ENV = 'CNN_KERNELS';

const CHOICES = ['wasm', 'reference'] as const;

let chosen: KernelSet | undefined;

export function processKernels(): KernelSet {
  if (!chosen) {
    const want = globalThis.process?.env?.[KERNELS_ENV] ?? 'wasm';
    if (!(CHOICES as readonly string[]).includes(want)) {
      throw new Error(`${KERNELS_ENV}=${want}: expected one of ${CHOICES.join(', ')}`);
    }
    chosen = want === 'reference' ? referenceKernels : wasmKernelSet(new WasmKernels(processHeap(), kernelsModule()));
  }
  return chosen;
}

/** Names this thread's kernels (part of the model fingerprint). */
export function kernelsId(): string {
  return processKernels().id;
}
