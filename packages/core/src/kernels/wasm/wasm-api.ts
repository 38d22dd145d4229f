/*
 * The few WebAssembly JS-API shapes the fast kernels use. TypeScript declares WebAssembly only in
 * its DOM and web-worker libs, which @cnn/core does not load (it runs in Node and browsers alike);
 * these structural types match the real objects, so code that has the DOM lib can pass its own
 * WebAssembly.Memory and WebAssembly.Module here.
 */

export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(deltaPages: number): number;
}

/** A compiled WebAssembly.Module (opaque). */
export type WasmModule = object;

interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: ArrayBufferView | ArrayBuffer) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
}

/** The global WebAssembly object (Node, browsers, workers). */
export function wasmApi(): WasmApi {
  const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (!api) throw new Error('this JavaScript runtime has no WebAssembly');
  return api;
}
