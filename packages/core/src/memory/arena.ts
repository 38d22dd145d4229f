import { CnnError } from '../errors.js';

/**
 * Backing stores an arena can carve from. A shared WebAssembly.Memory works too: pass its `.buffer`
 * (a SharedArrayBuffer), since views into shared memory stay valid when the memory grows.
 */
export type Backing = ArrayBuffer | SharedArrayBuffer;

export type BufferKind = 'f32' | 'f64' | 'i32' | 'u8';

export interface BufferRequest {
  readonly name: string;
  readonly kind: BufferKind;
  readonly length: number;
}

export type ArenaView = Float32Array | Float64Array | Int32Array | Uint8Array;

/** 64 bytes: a cache line, and a multiple of every SIMD width a kernel may use. */
export const ARENA_ALIGNMENT = 64;

const BYTES: Record<BufferKind, number> = { f32: 4, f64: 8, i32: 4, u8: 1 };

/** Rounds a byte count up to the arena alignment. */
export function alignUp(n: number): number {
  return Math.ceil(n / ARENA_ALIGNMENT) * ARENA_ALIGNMENT;
}

/** Bytes an arena needs to hold `requests` (in this order), alignment included. */
export function bytesFor(requests: readonly BufferRequest[]): number {
  let total = 0;
  for (const r of requests) total += alignUp(r.length * BYTES[r.kind]);
  return total;
}

/**
 * A bump allocator over one backing store: every buffer of a model (params, grads, activations,
 * scratch) is a view carved from one of these, so a whole model can live in a SharedArrayBuffer or a
 * shared WebAssembly.Memory that other threads attach to by offset. Nothing is ever freed; an arena
 * is sized once from the requests of what will live in it (see bytesFor).
 */
export class Arena {
  readonly buffer: Backing;
  readonly byteOffset: number;
  readonly byteLength: number;
  #used = 0;

  constructor(buffer: Backing, byteOffset = 0, byteLength = buffer.byteLength - byteOffset) {
    if (byteOffset % ARENA_ALIGNMENT !== 0) {
      throw new RangeError(`Arena byteOffset must be a multiple of ${ARENA_ALIGNMENT}, got ${byteOffset}`);
    }
    if (byteOffset + byteLength > buffer.byteLength) {
      throw new RangeError(`Arena [${byteOffset}, +${byteLength}) exceeds its buffer of ${buffer.byteLength} bytes`);
    }
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.byteLength = byteLength;
  }

  /** An arena over ordinary (unshared) memory: for tests and tools, not for models. */
  static unshared(byteLength: number): Arena {
    return new Arena(new ArrayBuffer(Math.max(alignUp(byteLength), ARENA_ALIGNMENT)));
  }

  get used(): number {
    return this.#used;
  }

  get isShared(): boolean {
    return typeof SharedArrayBuffer !== 'undefined' && this.buffer instanceof SharedArrayBuffer;
  }

  #take(bytes: number, what: string): number {
    const start = this.byteOffset + this.#used;
    const size = alignUp(bytes);
    if (this.#used + size > this.byteLength) {
      throw new CnnError(
        'CNN_ERR_ARENA_FULL',
        `Arena full: ${what} needs ${bytes} bytes, ${this.byteLength - this.#used} of ${this.byteLength} left. ` +
          'Size the arena with bytesFor() over every request before allocating.',
      );
    }
    this.#used += size;
    return start;
  }

  f32(length: number, what = 'f32 buffer'): Float32Array {
    return new Float32Array(this.buffer, this.#take(length * 4, what), length);
  }

  f64(length: number, what = 'f64 buffer'): Float64Array {
    return new Float64Array(this.buffer, this.#take(length * 8, what), length);
  }

  i32(length: number, what = 'i32 buffer'): Int32Array {
    return new Int32Array(this.buffer, this.#take(length * 4, what), length);
  }

  u8(length: number, what = 'u8 buffer'): Uint8Array {
    return new Uint8Array(this.buffer, this.#take(length, what), length);
  }

  alloc(request: BufferRequest): ArenaView {
    switch (request.kind) {
      case 'f32':
        return this.f32(request.length, request.name);
      case 'f64':
        return this.f64(request.length, request.name);
      case 'i32':
        return this.i32(request.length, request.name);
      case 'u8':
        return this.u8(request.length, request.name);
    }
  }

  allocAll(requests: readonly BufferRequest[]): Map<string, ArenaView> {
    const views = new Map<string, ArenaView>();
    for (const r of requests) {
      if (views.has(r.name)) throw new Error(`duplicate arena request name ${r.name}`);
      views.set(r.name, this.alloc(r));
    }
    return views;
  }
}
