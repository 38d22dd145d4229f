import { Arena, type ArenaView, type BufferRequest, alignUp, bytesFor } from './arena.js';
import { KernelHeap } from './kernel-heap.js';
import type { WasmMemory } from '../kernels/wasm/wasm-api.js';

/*
 * The kernel heap of this thread: created on first use on the thread that owns a run, attached to
 * the owner's memory in worker threads. Every arena (parameters, optimizer state, workspaces) is
 * carved from it, so the fast kernels can reach any buffer of a model.
 */

let heap: KernelHeap | undefined;

export function processHeap(): KernelHeap {
  heap ??= KernelHeap.create();
  return heap;
}

/** In a worker thread: use the owner's heap (its memory came in a message); again for the same memory is a no-op. */
export function attachProcessHeap(memory: WasmMemory): KernelHeap {
  if (heap) {
    if (heap.hasMemory(memory)) return heap;
    throw new Error('this thread already has a kernel heap of its own; attach before anything allocates');
  }
  heap = KernelHeap.attach(memory);
  return heap;
}

/** An arena over a fresh region of the process heap; release() returns the region. */
export class HeapArena extends Arena {
  readonly #heap: KernelHeap;
  #released = false;

  constructor(heap: KernelHeap, offset: number, bytes: number) {
    super(heap.bufferCovering(offset + bytes), offset, bytes);
    this.#heap = heap;
  }

  /** Gives the region back to the heap; views into it must not be used afterwards. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    orphans.unregister(this);
    this.#heap.free(this.byteOffset, this.byteLength);
  }

  /** Frees the region when `owner` is garbage-collected (a model nobody holds any more). */
  releaseWith(owner: object): this {
    orphans.register(owner, { heap: this.#heap, offset: this.byteOffset, bytes: this.byteLength }, this);
    return this;
  }
}

/** Regions of collected owners go back to the heap (the record holds no reference to the owner). */
const orphans = new FinalizationRegistry<{ heap: KernelHeap; offset: number; bytes: number }>((r) => r.heap.free(r.offset, r.bytes));

/**
 * A region of `bytes` of the process heap as an arena, zeroed: the region may be one freed before,
 * and optimizer state, padding borders and the like rely on starting at zero.
 */
export function heapArena(bytes: number): HeapArena {
  const heap = processHeap();
  const size = Math.max(alignUp(bytes), 64);
  const arena = new HeapArena(heap, heap.alloc(size, 64), size);
  new Uint8Array(arena.buffer, arena.byteOffset, size).fill(0);
  return arena;
}

/** An arena exactly large enough for `requests`, with them already carved in order. */
export function heapArenaFor(requests: readonly BufferRequest[]): { arena: HeapArena; views: Map<string, ArenaView> } {
  const arena = heapArena(bytesFor(requests));
  return { arena, views: arena.allocAll(requests) };
}
