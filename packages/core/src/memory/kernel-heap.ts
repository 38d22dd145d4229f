import { CnnError } from '../errors.js';
import { wasmApi, type WasmMemory } from '../kernels/wasm/wasm-api.js';
import { requireLittleEndian } from '../platform.js';

/*
 * The kernel heap: one shared WebAssembly.Memory per process, which the fast kernels' module
 * instance of every thread imports, carved by a bump allocator whose state lives in the memory
 * itself (a 64-byte header), so any thread that attaches can allocate, concurrently, with Atomics.
 *
 * Layout: [0, 64) header, then buffers in allocation order. The thread that created the heap may
 * free what it allocated (free()); its later allocations reuse those bytes first. Other threads only
 * bump-allocate (the run's owner carves their regions for them, so nothing they use is lost).
 * Growing never moves anything: views made before a grow stay valid (shared memory), so a buffer's
 * address is simply its view's byteOffset. A view made before a grow covers the memory as it was
 * then (`view.buffer.byteLength` is the old size); make new views with heap.f32()/heap.buffer.
 */

/** Bytes of the header at offset 0; no buffer starts before it. */
export const HEAP_HEADER_BYTES = 64;
/** The size of a WebAssembly page. */
export const WASM_PAGE_BYTES = 65536;

export const KERNEL_HEAP_DEFAULTS = {
  /** Room for a model's arena at the usual micro-batch sizes; the heap grows past it as needed. */
  initialBytes: 16 * 1024 * 1024,
  /**
   * Address space reserved up front (shared memories never move). 1 GiB holds every built-in
   * model's buffers many times over; the kernels' module accepts up to 2 GiB.
   */
  maximumBytes: 1024 * 1024 * 1024,
  /** Growth step, so that a run of small allocations does not grow the memory page by page. */
  growBytes: 4 * 1024 * 1024,
  /** Default alignment of a buffer: a cache line, and a multiple of every SIMD width. */
  align: 64,
} as const;

/** The kernels' module declares at most 32768 pages (2 GiB); offsets then fit in an int32. */
const MAX_PAGES = 32768;
const MAGIC_VALUE = 0x4b484550; // "KHEP"
const LAYOUT_VERSION = 1;

// Int32 words of the header.
const MAGIC = 0;
const VERSION = 1;
/** Next free byte: advanced with compareExchange by whichever thread allocates. */
const TOP = 2;
/** 0 or 1: held while one thread grows the memory, so that racing threads do not both grow it. */
const GROW_LOCK = 3;
/** A random 64-bit identity: tells this heap's buffers from any other SharedArrayBuffer. */
const TOKEN0 = 4;
const TOKEN1 = 5;
/** The memory's maximum, in pages. */
const MAX_PAGES_WORD = 6;

export interface KernelHeapOptions {
  /** Upper bound of the memory (rounded up to whole pages); at most 2 GiB. */
  readonly maximumBytes?: number;
}

export type HeapView = Float32Array | Float64Array | Int32Array | Uint8Array;

export class KernelHeap {
  /** The shared memory: pass it to worker threads (postMessage) and to KernelHeap.attach there. */
  readonly memory: WasmMemory;
  readonly maximumBytes: number;
  readonly #header: Int32Array;
  readonly #token0: number;
  readonly #token1: number;
  /** SharedArrayBuffer objects of this memory already checked, so owns() costs a lookup. */
  readonly #known = new WeakSet<object>();
  /** The buffer owns() recognised last, and the top of the heap it read last. */
  #lastKnown: object | null = null;
  #topSeen = 0;
  /** Freed byte ranges, sorted and coalesced; only on the creating thread (see free()). */
  readonly #free: { start: number; end: number }[] = [];
  #owner = false;

  private constructor(memory: WasmMemory) {
    const buffer = memory.buffer;
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('KernelHeap needs a shared WebAssembly.Memory: new WebAssembly.Memory({ initial, maximum, shared: true })');
    }
    this.memory = memory;
    this.#header = new Int32Array(buffer, 0, HEAP_HEADER_BYTES / 4);
    this.#token0 = 0;
    this.#token1 = 0;
    this.maximumBytes = 0;
    if (Atomics.load(this.#header, MAGIC) === MAGIC_VALUE) {
      if (Atomics.load(this.#header, VERSION) !== LAYOUT_VERSION) {
        throw new CnnError('CNN_ERR_HEAP', `kernel heap layout version ${Atomics.load(this.#header, VERSION)} is not ${LAYOUT_VERSION}: every thread must run the same @cnn/core`);
      }
      this.#token0 = this.#header[TOKEN0];
      this.#token1 = this.#header[TOKEN1];
      this.maximumBytes = this.#header[MAX_PAGES_WORD] * WASM_PAGE_BYTES;
    }
  }

  /**
   * A heap over a fresh shared memory of at least `initialBytes`. Call once per process (on the
   * thread that owns the run) and hand `heap.memory` to the other threads.
   */
  static create(initialBytes: number = KERNEL_HEAP_DEFAULTS.initialBytes, options: KernelHeapOptions = {}): KernelHeap {
    requireLittleEndian('the kernel heap');
    const maximumBytes = options.maximumBytes ?? KERNEL_HEAP_DEFAULTS.maximumBytes;
    if (!Number.isSafeInteger(initialBytes) || initialBytes < 0) throw new RangeError(`initialBytes must be a non-negative integer, got ${initialBytes}`);
    if (!Number.isSafeInteger(maximumBytes) || maximumBytes <= 0) throw new RangeError(`options.maximumBytes must be a positive integer, got ${maximumBytes}`);
    const maximum = Math.ceil(maximumBytes / WASM_PAGE_BYTES);
    const initial = Math.max(1, Math.ceil((initialBytes + HEAP_HEADER_BYTES) / WASM_PAGE_BYTES));
    if (maximum > MAX_PAGES) throw new RangeError(`options.maximumBytes must be at most ${MAX_PAGES * WASM_PAGE_BYTES} (2 GiB), got ${maximumBytes}`);
    if (initial > maximum) throw new RangeError(`initialBytes ${initialBytes} exceeds options.maximumBytes ${maximumBytes}`);
    const memory = new (wasmApi().Memory)({ initial, maximum, shared: true });
    const header = new Int32Array(memory.buffer, 0, HEAP_HEADER_BYTES / 4);
    const token = new Int32Array(2);
    crypto.getRandomValues(token);
    header[TOKEN0] = token[0];
    header[TOKEN1] = token[1];
    header[MAX_PAGES_WORD] = maximum;
    Atomics.store(header, TOP, HEAP_HEADER_BYTES);
    Atomics.store(header, VERSION, LAYOUT_VERSION);
    Atomics.store(header, MAGIC, MAGIC_VALUE); // last: marks the header complete
    const heap = new KernelHeap(memory);
    heap.#owner = true;
    return heap;
  }

  /** The heap another thread created over `memory` (received by postMessage). */
  static attach(memory: WasmMemory): KernelHeap {
    const heap = new KernelHeap(memory);
    if (heap.maximumBytes === 0) {
      throw new CnnError('CNN_ERR_HEAP', 'KernelHeap.attach: this memory holds no kernel heap; create one with KernelHeap.create() and pass heap.memory');
    }
    return heap;
  }

  /**
   * Whether `memory` is this heap's memory: the same object, or another handle of it (each message
   * that carries a WebAssembly.Memory to a thread makes a new object over the same bytes).
   */
  hasMemory(memory: WasmMemory): boolean {
    if (memory === this.memory) return true;
    const buffer = memory.buffer as unknown;
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < HEAP_HEADER_BYTES) return false;
    const h = new Int32Array(buffer, 0, HEAP_HEADER_BYTES / 4);
    return Atomics.load(h, MAGIC) === MAGIC_VALUE && h[TOKEN0] === this.#token0 && h[TOKEN1] === this.#token1;
  }

  /** The memory's current SharedArrayBuffer (a new object after every grow, same bytes). */
  get buffer(): SharedArrayBuffer {
    return this.memory.buffer as unknown as SharedArrayBuffer;
  }

  /** Bytes handed out so far, header included: the next buffer starts at or after this. */
  get used(): number {
    return Atomics.load(this.#header, TOP);
  }

  /**
   * Reserves `bytes` at a multiple of `align` and returns its byte offset (the pointer the kernels
   * take). Safe to call from several threads at once; grows the memory when needed.
   */
  alloc(bytes: number, align: number = KERNEL_HEAP_DEFAULTS.align): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`KernelHeap.alloc: bytes must be a non-negative integer, got ${bytes}`);
    if (!Number.isInteger(align) || align < 1 || align > WASM_PAGE_BYTES || (align & (align - 1)) !== 0) {
      throw new RangeError(`KernelHeap.alloc: align must be a power of two up to ${WASM_PAGE_BYTES}, got ${align}`);
    }
    const reused = this.#reuse(bytes, align);
    if (reused !== null) return reused;
    const h = this.#header;
    for (;;) {
      const old = Atomics.load(h, TOP);
      const start = Math.ceil(old / align) * align;
      const end = start + bytes;
      // The top lives in an int32 word, hence the 2^31 - 1 bound of a 2 GiB memory.
      if (end > Math.min(this.maximumBytes, 0x7fffffff)) {
        throw new CnnError(
          'CNN_ERR_HEAP_FULL',
          `kernel heap full: ${bytes} more bytes would end at ${end}, past its maximum of ${this.maximumBytes}. ` +
            'Create the heap with a larger options.maximumBytes (at most 2 GiB).',
        );
      }
      if (Atomics.compareExchange(h, TOP, old, end) === old) {
        this.#ensureCapacity(end);
        return start;
      }
    }
  }

  /**
   * Returns [offset, offset + bytes) for reuse by later allocations. Only the thread that created
   * the heap frees (and so reuses): its free list is its own, never raced.
   */
  free(offset: number, bytes: number): void {
    if (!this.#owner) throw new Error('KernelHeap.free: only the thread that created the heap frees memory');
    if (bytes <= 0) return;
    const list = this.#free;
    let i = 0;
    while (i < list.length && list[i].start < offset) i++;
    list.splice(i, 0, { start: offset, end: offset + bytes });
    // Coalesce with the neighbours, so repeated alloc/free of similar sizes does not fragment.
    if (i + 1 < list.length && list[i].end === list[i + 1].start) {
      list[i].end = list[i + 1].end;
      list.splice(i + 1, 1);
    }
    if (i > 0 && list[i - 1].end === list[i].start) {
      list[i - 1].end = list[i].end;
      list.splice(i, 1);
    }
  }

  /** First fit in the free list, or null. */
  #reuse(bytes: number, align: number): number | null {
    const list = this.#free;
    for (let i = 0; i < list.length; i++) {
      const block = list[i];
      const start = Math.ceil(block.start / align) * align;
      if (start + bytes > block.end) continue;
      const rest: { start: number; end: number }[] = [];
      if (start > block.start) rest.push({ start: block.start, end: start });
      if (start + bytes < block.end) rest.push({ start: start + bytes, end: block.end });
      list.splice(i, 1, ...rest);
      return start;
    }
    return null;
  }

  /** Bytes in the free list (for tests and memory reports). */
  get freeBytes(): number {
    return this.#free.reduce((a, b) => a + b.end - b.start, 0);
  }

  /** A buffer of this memory covering [0, end): views must be made on it, not on an older one. */
  bufferCovering(end: number): SharedArrayBuffer {
    return this.#bufferCovering(end);
  }

  f32(length: number, align?: number): Float32Array {
    const at = this.alloc(length * 4, align);
    return new Float32Array(this.#bufferCovering(at + length * 4), at, length);
  }

  f64(length: number, align?: number): Float64Array {
    const at = this.alloc(length * 8, Math.max(align ?? KERNEL_HEAP_DEFAULTS.align, 8));
    return new Float64Array(this.#bufferCovering(at + length * 8), at, length);
  }

  i32(length: number, align?: number): Int32Array {
    const at = this.alloc(length * 4, align);
    return new Int32Array(this.#bufferCovering(at + length * 4), at, length);
  }

  u8(length: number, align?: number): Uint8Array {
    const at = this.alloc(length, align);
    return new Uint8Array(this.#bufferCovering(at + length), at, length);
  }

  /**
   * Whether `view` lies in this heap's allocated bytes: its buffer is a SharedArrayBuffer of this
   * very memory (recognised by the heap's random token in the header, read through the view's own
   * buffer, so a copy or another memory never passes) and it starts after the header.
   */
  owns(view: ArrayBufferView): boolean {
    const buffer = view.buffer;
    // Every kernel call checks a few views, nearly always of one buffer: a WeakSet lookup each was
    // 1.7% of a small model's step.
    if (buffer !== this.#lastKnown) {
      if (!this.#known.has(buffer)) {
        if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < HEAP_HEADER_BYTES) return false;
        const h = new Int32Array(buffer, 0, HEAP_HEADER_BYTES / 4);
        if (h[MAGIC] !== MAGIC_VALUE || h[TOKEN0] !== this.#token0 || h[TOKEN1] !== this.#token1) return false;
        this.#known.add(buffer);
      }
      this.#lastKnown = buffer;
    }
    const end = view.byteOffset + view.byteLength;
    // TOP only grows, so a view below the top seen last needs no atomic read.
    if (end > this.#topSeen) this.#topSeen = Atomics.load(this.#header, TOP);
    return view.byteOffset >= HEAP_HEADER_BYTES && end <= this.#topSeen;
  }

  /** A buffer of this memory at least `end` bytes long, refreshed if another thread grew it. */
  #bufferCovering(end: number): SharedArrayBuffer {
    let buffer = this.buffer;
    if (buffer.byteLength < end) {
      this.memory.grow(0); // refreshes memory.buffer after a grow by another thread
      buffer = this.buffer;
    }
    return buffer;
  }

  #ensureCapacity(end: number): void {
    if (this.buffer.byteLength >= end) return;
    const h = this.#header;
    while (Atomics.compareExchange(h, GROW_LOCK, 0, 1) !== 0) {
      // Another thread is growing the memory; growth takes microseconds.
    }
    try {
      const pages = this.memory.grow(0);
      const needed = Math.ceil(end / WASM_PAGE_BYTES);
      if (needed > pages) {
        const maxPages = this.maximumBytes / WASM_PAGE_BYTES;
        const target = Math.min(maxPages, Math.max(needed, pages + KERNEL_HEAP_DEFAULTS.growBytes / WASM_PAGE_BYTES));
        this.memory.grow(target - pages);
      }
    } finally {
      Atomics.store(h, GROW_LOCK, 0);
    }
  }
}
