import { CnnError } from '../../errors.js';
import type { KernelHeap } from '../../memory/kernel-heap.js';
import { activationBackward, activationForward, type ActivationName } from '../activations.js';
import type { WindowGeometry } from '../geometry.js';
import type { Targets } from '../losses.js';
import { instantiateKernels, type KernelExports } from './exports.js';
import type { WasmModule } from './wasm-api.js';
import { Purpose, philoxKey } from '../../random/philox.js';

/*
 * The fast kernels: the signatures of the reference kernels in src/kernels/ (same argument order and
 * meaning), running the WebAssembly SIMD module on one thread. Every typed array must be a view of
 * the heap's memory (carved by the heap, on any thread); a view from anywhere else throws, since the
 * module can only address its own memory. One WasmKernels per thread: it holds that thread's
 * instance and, when a call passes no scratch, a private scratch buffer.
 *
 * What differs from the reference:
 * - scratch is a Float32Array of the heap of at least the bytes the *ScratchBytes functions below
 *   give (the reference's Float64Array scratch is not needed; sizes do not depend on n for
 *   convolutions, and grow with the row count for dense layers). Optional: when omitted, the
 *   kernels' own scratch is used, grown from the heap on first need (so allocate it up front to keep
 *   the steady state allocation-free). denseBackwardInput takes a scratch argument too (the
 *   reference takes none): it packs the transposed kernel;
 * - convolution and dense sums are float32 in a fixed order (assembly/gemm.ts, assembly/conv1.ts),
 *   so they differ from the reference's float64 sums by float32 rounding (tests: within 1e-5 of the
 *   largest magnitude; measured ~1e-6); everything else equals the reference bit for bit;
 * - conv2dForward and denseForward take an optional fused activation ('relu' or 'linear');
 * - every result is a pure function of the inputs: the same bits at any heap offset, on any thread,
 *   and (forward) whatever else is in the batch (determinism.test.ts).
 */

/** Bytes of the kernels' own scratch when first needed (grown as needed). */
const INITIAL_OWN_SCRATCH_BYTES = 256 * 1024;

const line = (bytes: number) => Math.ceil(bytes / 64) * 64;
const roundUp8 = (n: number) => Math.ceil(n / 8) * 8;

function needsPadding(g: WindowGeometry): boolean {
  return g.padTop !== 0 || g.padLeft !== 0 || (g.outH - 1) * g.strideH + g.kH > g.inH || (g.outW - 1) * g.strideW + g.kW > g.inW;
}

function paddedSampleBytes(g: WindowGeometry): number {
  return needsPadding(g) ? line(((g.outH - 1) * g.strideH + g.kH) * ((g.outW - 1) * g.strideW + g.kW) * g.inC * 4) : 0;
}

/** Scratch bytes of conv2dForward (mirrors assembly/conv.ts; a test holds the two equal). */
export function conv2dForwardScratchBytes(g: WindowGeometry, outC: number): number {
  return line(g.kH * g.kW * g.inC * roundUp8(outC) * 4) + line(g.outH * g.outW * 4) + paddedSampleBytes(g);
}

export function conv2dBackwardInputScratchBytes(g: WindowGeometry, outC: number): number {
  const pointwise = g.kH === 1 && g.kW === 1 && g.strideH === 1 && g.strideW === 1 && g.padTop === 0 && g.padLeft === 0;
  const N = g.kH * g.kW * g.inC;
  const windowSums = pointwise ? 0 : line(g.outH * g.outW * N * 4);
  return line(outC * roundUp8(N) * 4) + line(g.outH * g.outW * 4) + windowSums;
}

/** The single-channel first-layer filter path of assembly/conv1.ts (it keeps a transposed dy sample). */
function firstLayerFilterShape(g: WindowGeometry, outC: number): boolean {
  return g.inC === 1 && g.strideW === 1 && g.outW >= 4 && outC >= 2 && outC % 8 !== 0 && g.kH * g.kW >= 16;
}

export function conv2dBackwardFilterScratchBytes(g: WindowGeometry, outC: number): number {
  const transposed = firstLayerFilterShape(g, outC) ? line(outC * g.outH * Math.ceil(g.outW / 4) * 4 * 4) : 0;
  return line(g.kH * g.kW * g.inC * 4) + paddedSampleBytes(g) + transposed;
}

/** One scratch buffer that serves all three convolution kernels of a layer; independent of n. */
export function conv2dScratchBytes(g: WindowGeometry, outC: number): number {
  return Math.max(conv2dForwardScratchBytes(g, outC), conv2dBackwardInputScratchBytes(g, outC), conv2dBackwardFilterScratchBytes(g, outC));
}

/** A dense layer over n rows is a 1x1 convolution of one "image" of n x 1 pixels of inDim channels. */
export function denseGeometry(n: number, inDim: number): WindowGeometry {
  return { inH: n, inW: 1, inC: inDim, kH: 1, kW: 1, strideH: 1, strideW: 1, outH: n, outW: 1, padTop: 0, padLeft: 0 };
}

/** Scratch bytes of the three dense kernels for up to `capacity` rows. */
export function denseScratchBytes(capacity: number, inDim: number, outDim: number): number {
  return conv2dScratchBytes(denseGeometry(capacity, inDim), outDim);
}

type View = Float32Array | Int32Array | Uint8Array;

const isCount = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0x7fffffff;

function badSizes(op: string, values: readonly number[]): CnnError {
  return new CnnError('CNN_ERR_BAD_SHAPE', `${op}: sizes must be non-negative integers, got ${values.join(', ')}`);
}

interface AdamLike {
  readonly className: string;
  readonly learningRate: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  readonly momentum?: number;
  readonly nesterov?: boolean;
  apply(params: Float32Array, grad: Float32Array, slots: readonly Float32Array[], iteration: number, begin?: number, end?: number): void;
}

export class WasmKernels {
  readonly heap: KernelHeap;
  /** The raw module exports (pointers are byte offsets); for tests and benchmarks. */
  readonly raw: KernelExports;
  #ownScratch: Float32Array | null = null;
  /** Dense geometries by input width, then row count: made once, so a dense call allocates nothing. */
  readonly #denseGeometries = new Map<number, Map<number, WindowGeometry>>();

  constructor(heap: KernelHeap, module: WasmModule) {
    this.heap = heap;
    this.raw = instantiateKernels(module, heap.memory);
  }

  // --- convolution -----------------------------------------------------------------------------

  /** y = act(conv(x, w) + bias); see src/kernels/conv2d.ts. */
  conv2dForward(
    g: WindowGeometry, outC: number, n: number,
    x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, scratch?: Float32Array | null, activation: 'linear' | 'relu' = 'linear',
  ): void {
    const op = 'conv2dForward';
    this.#shape(op, g, outC, n);
    const K = g.kH * g.kW * g.inC;
    this.raw.conv2dForward(
      this.#ptr(op, 'x', x, n * g.inH * g.inW * g.inC), this.#ptr(op, 'w', w, K * outC), bias ? this.#ptr(op, 'bias', bias, outC) : 0,
      this.#ptr(op, 'y', y, n * g.outH * g.outW * outC), this.#scratch(op, scratch, conv2dForwardScratchBytes(g, outC)), n,
      g.inH, g.inW, g.inC, g.kH, g.kW, g.strideH, g.strideW, g.outH, g.outW, g.padTop, g.padLeft, outC, this.#relu(op, activation),
    );
  }

  /** dx = the gradient of conv2dForward with respect to x; overwrites dx. */
  conv2dBackwardInput(g: WindowGeometry, outC: number, n: number, dy: Float32Array, w: Float32Array, dx: Float32Array, scratch?: Float32Array | null): void {
    const op = 'conv2dBackwardInput';
    this.#shape(op, g, outC, n);
    this.raw.conv2dBackwardInput(
      this.#ptr(op, 'dy', dy, n * g.outH * g.outW * outC), this.#ptr(op, 'w', w, g.kH * g.kW * g.inC * outC), this.#ptr(op, 'dx', dx, n * g.inH * g.inW * g.inC),
      this.#scratch(op, scratch, conv2dBackwardInputScratchBytes(g, outC)), n, g.inH, g.inW, g.inC, g.kH, g.kW, g.strideH, g.strideW, g.outH, g.outW, g.padTop, g.padLeft, outC,
    );
  }

  /** dw, dbias = the sums over the n samples; overwrites both. */
  conv2dBackwardFilter(
    g: WindowGeometry, outC: number, n: number,
    x: Float32Array, dy: Float32Array, dw: Float32Array, dbias: Float32Array | null, scratch?: Float32Array | null,
  ): void {
    const op = 'conv2dBackwardFilter';
    this.#shape(op, g, outC, n);
    this.raw.conv2dBackwardFilter(
      this.#ptr(op, 'x', x, n * g.inH * g.inW * g.inC), this.#ptr(op, 'dy', dy, n * g.outH * g.outW * outC), this.#ptr(op, 'dw', dw, g.kH * g.kW * g.inC * outC),
      dbias ? this.#ptr(op, 'dbias', dbias, outC) : 0, this.#scratch(op, scratch, conv2dBackwardFilterScratchBytes(g, outC)), n, g.inH, g.inW, g.inC, g.kH, g.kW, g.strideH, g.strideW, g.outH, g.outW, g.padTop, g.padLeft, outC,
    );
  }

  // --- dense -------------------------------------------------------------------------------------

  /** y = act(x w + bias) over n rows; see src/kernels/dense.ts. */
  denseForward(
    n: number, inDim: number, outDim: number,
    x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, scratch?: Float32Array | null, activation: 'linear' | 'relu' = 'linear',
  ): void {
    this.conv2dForward(this.#denseGeometry(n, inDim), outDim, 1, x, w, bias, y, scratch, activation);
  }

  /** dx[s, k] = sum over o of w[k, o] dy[s, o]. */
  denseBackwardInput(n: number, inDim: number, outDim: number, dy: Float32Array, w: Float32Array, dx: Float32Array, scratch?: Float32Array | null): void {
    this.conv2dBackwardInput(this.#denseGeometry(n, inDim), outDim, 1, dy, w, dx, scratch);
  }

  /** dw = x^T dy, dbias = column sums of dy, over the n rows in order; overwrites both. */
  denseBackwardFilter(
    n: number, inDim: number, outDim: number,
    x: Float32Array, dy: Float32Array, dw: Float32Array, dbias: Float32Array | null, scratch?: Float32Array | null,
  ): void {
    this.conv2dBackwardFilter(this.#denseGeometry(n, inDim), outDim, 1, x, dy, dw, dbias, scratch);
  }

  // --- pooling -----------------------------------------------------------------------------------

  /** See src/kernels/pool2d.ts; bit for bit the reference, winners (argIndex) included. */
  extremePoolForward(kind: 'max' | 'min', g: WindowGeometry, n: number, x: Float32Array, y: Float32Array, argIndex: Int32Array | null): void {
    const op = 'extremePoolForward';
    this.#shape(op, g, g.inC, n);
    const outSize = n * g.outH * g.outW * g.inC;
    this.raw.extremePoolForward(
      kind === 'max' ? 1 : 0, this.#ptr(op, 'x', x, n * g.inH * g.inW * g.inC), this.#ptr(op, 'y', y, outSize),
      argIndex ? this.#ptr(op, 'argIndex', argIndex, outSize) : 0, n, g.inH, g.inW, g.inC, g.kH, g.kW, g.strideH, g.strideW, g.outH, g.outW, g.padTop, g.padLeft,
    );
  }

  extremePoolBackward(n: number, inSize: number, outSize: number, dy: Float32Array, argIndex: Int32Array, dx: Float32Array): void {
    const op = 'extremePoolBackward';
    this.#counts(op, n, inSize, outSize);
    this.raw.extremePoolBackward(n, inSize, outSize, this.#ptr(op, 'dy', dy, n * outSize), this.#ptr(op, 'argIndex', argIndex, n * outSize), this.#ptr(op, 'dx', dx, n * inSize));
  }

  avgPoolForward(g: WindowGeometry, n: number, x: Float32Array, y: Float32Array): void {
    const op = 'avgPoolForward';
    this.#shape(op, g, g.inC, n);
    this.raw.avgPoolForward(this.#ptr(op, 'x', x, n * g.inH * g.inW * g.inC), this.#ptr(op, 'y', y, n * g.outH * g.outW * g.inC), n, g.inH, g.inW, g.inC, g.kH, g.kW, g.strideH, g.strideW, g.outH, g.outW, g.padTop, g.padLeft);
  }

  avgPoolBackward(g: WindowGeometry, n: number, dy: Float32Array, dx: Float32Array): void {
    const op = 'avgPoolBackward';
    this.#shape(op, g, g.inC, n);
    this.raw.avgPoolBackward(this.#ptr(op, 'dy', dy, n * g.outH * g.outW * g.inC), this.#ptr(op, 'dx', dx, n * g.inH * g.inW * g.inC), n, g.inH, g.inW, g.inC, g.kH, g.kW, g.strideH, g.strideW, g.outH, g.outW, g.padTop, g.padLeft);
  }

  // --- activations and loss ----------------------------------------------------------------------

  /** See src/kernels/activations.ts; relu and softmax run here, the others in the reference. */
  activationForward(kind: ActivationName, count: number, width: number, x: Float32Array, y: Float32Array): void {
    const op = 'activationForward';
    if (kind === 'relu') {
      this.#counts(op, count);
      this.raw.reluForward(this.#ptr(op, 'x', x, count), this.#ptr(op, 'y', y, count), count);
    } else if (kind === 'softmax') {
      this.softmaxRows(count / width, width, x, y);
    } else {
      activationForward(kind, count, width, x, y);
    }
  }

  activationBackward(kind: ActivationName, count: number, width: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    const op = 'activationBackward';
    if (kind === 'relu') {
      this.#counts(op, count);
      this.raw.reluBackward(this.#ptr(op, 'y', y, count), this.#ptr(op, 'dy', dy, count), this.#ptr(op, 'dx', dx, count), count);
    } else if (kind === 'softmax') {
      this.#counts(op, count, width);
      this.#rows(op, count, width);
      this.raw.softmaxBackward(this.#ptr(op, 'y', y, count), this.#ptr(op, 'dy', dy, count), this.#ptr(op, 'dx', dx, count), count / width, width);
    } else {
      activationBackward(kind, count, width, y, dy, dx);
    }
  }

  softmaxRows(rows: number, width: number, x: Float32Array, y: Float32Array): void {
    const op = 'softmaxRows';
    this.#counts(op, rows, width);
    this.raw.softmaxForward(this.#ptr(op, 'x', x, rows * width), this.#ptr(op, 'y', y, rows * width), rows, width);
  }

  /** See src/kernels/losses.ts: in place, returns the loss sum; bit for bit the reference. */
  softmaxCrossEntropyFromLogits(rows: number, width: number, out: Float32Array, targets: Targets, grad: Float32Array | null): number {
    const op = 'softmaxCrossEntropyFromLogits';
    this.#counts(op, rows, width);
    const sparse = targets.sparse ? this.#ptr(op, 'targets.sparse', targets.sparse, rows) : 0;
    const dense = targets.dense ? this.#ptr(op, 'targets.dense', targets.dense, rows * width) : 0;
    return this.raw.softmaxCrossEntropy(rows, width, this.#ptr(op, 'out', out, rows * width), sparse, dense, grad ? this.#ptr(op, 'grad', grad, rows * width) : 0);
  }

  // --- dropout -----------------------------------------------------------------------------------

  /** See src/kernels/dropout.ts; the same Philox stream, bit for bit. */
  dropoutForward(x: Float32Array, y: Float32Array, keep: Uint8Array, count: number, rate: number, seed: number, layerIndex: number, step: number, first: number): void {
    const op = 'dropoutForward';
    this.#counts(op, count);
    const key = philoxKey(seed, Purpose.dropout);
    this.raw.dropoutForward(
      this.#ptr(op, 'x', x, count), this.#ptr(op, 'y', y, count), this.#ptr(op, 'keep', keep, count), count, rate, 1 / (1 - rate),
      key[0], key[1], layerIndex >>> 0, step >>> 0, first,
    );
  }

  dropoutBackward(dy: Float32Array, dx: Float32Array, keep: Uint8Array, count: number, rate: number): void {
    const op = 'dropoutBackward';
    this.#counts(op, count);
    this.raw.dropoutBackward(this.#ptr(op, 'dy', dy, count), this.#ptr(op, 'dx', dx, count), this.#ptr(op, 'keep', keep, count), count, 1 / (1 - rate));
  }

  // --- reduction and update ----------------------------------------------------------------------

  /** a[i] += b[i] over [begin, end): the reduction tree's addition; see src/kernels/reduce.ts. */
  addInto(a: Float32Array, b: Float32Array, begin = 0, end = a.length): void {
    const op = 'addInto';
    this.#range(op, begin, end);
    this.raw.addInto(this.#ptr(op, 'a', a, end), this.#ptr(op, 'b', b, end), begin, end);
  }

  /** Whether every a[i] over [begin, end) is finite; see src/kernels/reduce.ts. */
  allFinite(a: Float32Array, begin = 0, end = a.length): boolean {
    const op = 'allFinite';
    this.#range(op, begin, end);
    return this.raw.allFinite(this.#ptr(op, 'a', a, end), begin, end) === 1;
  }

  /** dst[i] = src[i] * scale over count bytes; see src/kernels/bytes.ts. */
  bytesToFloats(src: Uint8Array, dst: Float32Array, count: number, scale: number): void {
    const op = 'bytesToFloats';
    this.#counts(op, count);
    this.raw.bytesToFloats(this.#ptr(op, 'src', src, count), this.#ptr(op, 'dst', dst, count), count, scale);
  }

  /**
   * The step's update as src/train/update.ts applies it: gradSum /= batchSize in place, then the
   * optimizer over params[begin, end). Adam and SGD run here, bit for bit as their TypeScript
   * apply(); any other optimizer runs its own apply() after the division.
   */
  applyUpdate(
    optimizer: AdamLike, params: Float32Array, gradSum: Float32Array, slots: readonly Float32Array[],
    batchSize: number, iteration: number, begin = 0, end = params.length,
  ): void {
    const op = 'applyUpdate';
    this.#range(op, begin, end);
    const p = this.#ptr(op, 'params', params, end);
    const g = this.#ptr(op, 'gradSum', gradSum, end);
    if (optimizer.className === 'Adam') {
      const { learningRate: lr, beta1, beta2, epsilon } = optimizer as Required<AdamLike>;
      // The same expression as Adam.apply, so alpha has the same bits.
      const alpha = (lr * Math.sqrt(1 - Math.pow(beta2, iteration))) / (1 - Math.pow(beta1, iteration));
      this.raw.adamUpdate(p, g, this.#ptr(op, 'slots[0]', slots[0], end), this.#ptr(op, 'slots[1]', slots[1], end), begin, end, alpha, 1 - beta1, 1 - beta2, epsilon, batchSize);
    } else if (optimizer.className === 'SGD') {
      const momentum = optimizer.momentum ?? 0;
      const velocity = momentum === 0 ? 0 : this.#ptr(op, 'slots[0]', slots[0], end);
      this.raw.sgdUpdate(p, g, velocity, begin, end, optimizer.learningRate, momentum, optimizer.nesterov ? 1 : 0, batchSize);
    } else {
      for (let i = begin; i < end; i++) gradSum[i] /= batchSize;
      optimizer.apply(params, gradSum, slots, iteration, begin, end);
    }
  }

  #denseGeometry(n: number, inDim: number): WindowGeometry {
    let byRows = this.#denseGeometries.get(inDim);
    if (!byRows) this.#denseGeometries.set(inDim, (byRows = new Map()));
    let g = byRows.get(n);
    if (!g) byRows.set(n, (g = denseGeometry(n, inDim)));
    return g;
  }

  // --- checks ------------------------------------------------------------------------------------

  #range(op: string, begin: number, end: number): void {
    if (!(Number.isInteger(begin) && Number.isInteger(end) && begin >= 0 && begin <= end)) {
      throw new RangeError(`${op}: [begin, end) must be a range of integers, got [${begin}, ${end})`);
    }
  }

  /** The view's address, after checking that it lies in the heap and holds `length` elements. */
  #ptr(op: string, name: string, view: View, length: number): number {
    if (!this.heap.owns(view)) {
      throw new CnnError(
        'CNN_ERR_NOT_IN_HEAP',
        `${op}: ${name} is not a view of the kernel heap's memory; carve every buffer a fast kernel touches from the KernelHeap (heap.f32(), or an arena over heap memory)`,
      );
    }
    if (view.length < length) throw new CnnError('CNN_ERR_BAD_SHAPE', `${op}: ${name} holds ${view.length} elements, the shape needs ${length}`);
    return view.byteOffset;
  }

  #scratch(op: string, scratch: Float32Array | null | undefined, bytes: number): number {
    if (scratch) return this.#ptr(op, 'scratch', scratch, Math.ceil(bytes / 4));
    if (!this.#ownScratch || this.#ownScratch.byteLength < bytes) {
      this.#ownScratch = this.heap.f32(Math.max(bytes, INITIAL_OWN_SCRATCH_BYTES, 2 * (this.#ownScratch?.byteLength ?? 0)) / 4);
    }
    return this.#ownScratch.byteOffset;
  }

  #relu(op: string, activation: string): number {
    if (activation === 'relu') return 1;
    if (activation === 'linear') return 0;
    throw new CnnError('CNN_ERR_BAD_CONFIG', `${op}: the fused activation must be 'linear' or 'relu', got ${JSON.stringify(activation)}`);
  }

  /** Checks up to three sizes; fixed arity, so the hot path allocates no argument array. */
  #counts(op: string, a: number, b = 0, c = 0): void {
    if (!isCount(a) || !isCount(b) || !isCount(c)) throw badSizes(op, [a, b, c]);
  }

  #rows(op: string, count: number, width: number): void {
    if (width <= 0 || count % width !== 0) throw new CnnError('CNN_ERR_BAD_SHAPE', `${op}: count ${count} is not a whole number of rows of ${width}`);
  }

  #shape(op: string, g: WindowGeometry, outC: number, n: number): void {
    const { inH, inW, inC, kH, kW, strideH, strideW, outH, outW, padTop, padLeft } = g;
    const sizesOk = isCount(n) && isCount(outC) && isCount(inH) && isCount(inW) && isCount(inC) && isCount(kH) && isCount(kW) &&
      isCount(strideH) && isCount(strideW) && isCount(outH) && isCount(outW) && isCount(padTop) && isCount(padLeft);
    if (!sizesOk) throw badSizes(op, [n, outC, inH, inW, inC, kH, kW, strideH, strideW, outH, outW, padTop, padLeft]);
    const ok = kH >= 1 && kW >= 1 && strideH >= 1 && strideW >= 1 && outH >= 1 && outW >= 1 && outC >= 1 && inC >= 1 &&
      padTop < kH && padLeft < kW && (outH - 1) * strideH - padTop < inH && (outW - 1) * strideW - padLeft < inW;
    if (!ok) throw new CnnError('CNN_ERR_BAD_SHAPE', `${op}: inconsistent window geometry ${JSON.stringify(g)} with ${outC} output channels; build it with windowGeometry()`);
  }
}
