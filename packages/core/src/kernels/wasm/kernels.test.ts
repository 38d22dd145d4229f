import { beforeAll, describe, expect, it } from 'vitest';
import { KernelHeap } from '../../memory/kernel-heap.js';
import { Adam } from '../../optimizers/adam.js';
import { SGD } from '../../optimizers/sgd.js';
import { activationBackward, activationForward, softmaxRows } from '../activations.js';
import { conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, conv2dScratchSize } from '../conv2d.js';
import { denseBackwardFilter, denseBackwardInput, denseForward } from '../dense.js';
import { type Padding, windowGeometry, type WindowGeometry } from '../geometry.js';
import { softmaxCrossEntropyFromLogits } from '../losses.js';
import { avgPoolBackward, avgPoolForward, extremePoolBackward, extremePoolForward } from '../pool2d.js';
import { addInto, allFinite } from '../reduce.js';
import { bytesToFloats } from '../bytes.js';
import { byteLut } from '../../tensor.js';
import {
  conv2dBackwardFilterScratchBytes, conv2dBackwardInputScratchBytes, conv2dForwardScratchBytes, conv2dScratchBytes, denseGeometry, type WasmKernels,
} from './kernels.js';
import { createWasmKernels } from './node.js';

/*
 * Every fast kernel against its reference in src/kernels on random inputs of the built-in models'
 * shapes and of awkward ones. Convolution and dense sum in float32 (the reference in float64): they
 * must agree within TOLERANCE of the largest reference magnitude. Everything else is the same
 * arithmetic and must agree bit for bit.
 */

/** Float32 sums of up to a few thousand terms vs the float64 reference: measured errors are ~1e-6. */
const TOLERANCE = 1e-5;

let heap: KernelHeap;
let k: WasmKernels;

beforeAll(() => {
  heap = KernelHeap.create(1 << 20);
  k = createWasmKernels(heap);
});

/** Deterministic uniform values in [-1, 1) (mulberry32), with some exact zeros as relu leaves. */
function fill(view: Float32Array, seed: number, zeros = 0.1): Float32Array {
  let s = seed >>> 0;
  for (let i = 0; i < view.length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    view[i] = u < zeros ? 0 : u * 2 - 1;
  }
  return view;
}

function random(length: number, seed: number, zeros?: number): Float32Array {
  return fill(heap.f32(length), seed, zeros);
}

/** max |a - b| / max |b|, over the first b.length values. */
function relError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

function expectBitwise(a: Float32Array | Int32Array, b: Float32Array | Int32Array, what: string): void {
  const ua = new Uint32Array(a.buffer, a.byteOffset, b.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let first = -1;
  for (let i = 0; i < ub.length && first < 0; i++) if (ua[i] !== ub[i]) first = i;
  expect(first, `${what}: first differing element ${first} (${a[first]} vs ${b[first]})`).toBe(-1);
}

interface ConvCase {
  name: string;
  inShape: [number, number, number];
  kernel: [number, number];
  strides: [number, number];
  padding: Padding;
  outC: number;
  n: number;
}

const CONV_CASES: ConvCase[] = [
  { name: 'seed conv 1->6 2x2', inShape: [28, 28, 1], kernel: [2, 2], strides: [1, 1], padding: 'valid', outC: 6, n: 8 },
  { name: 'lenet5 conv1 1->6 5x5 same', inShape: [28, 28, 1], kernel: [5, 5], strides: [1, 1], padding: 'same', outC: 6, n: 4 },
  { name: 'lenet5 conv2 6->16 5x5', inShape: [14, 14, 6], kernel: [5, 5], strides: [1, 1], padding: 'valid', outC: 16, n: 8 },
  { name: 'convnet conv1 1->32 3x3', inShape: [28, 28, 1], kernel: [3, 3], strides: [1, 1], padding: 'valid', outC: 32, n: 2 },
  { name: 'convnet conv2 32->64 3x3', inShape: [13, 13, 32], kernel: [3, 3], strides: [1, 1], padding: 'valid', outC: 64, n: 2 },
  { name: 'odd sizes, stride [2,1], same, n=1', inShape: [7, 9, 3], kernel: [3, 2], strides: [2, 1], padding: 'same', outC: 5, n: 1 },
  { name: 'stride 2 valid, 7 channels', inShape: [11, 10, 5], kernel: [4, 4], strides: [2, 2], padding: 'valid', outC: 7, n: 3 },
  { name: 'one output channel, same', inShape: [5, 5, 1], kernel: [5, 5], strides: [1, 1], padding: 'same', outC: 1, n: 1 },
  { name: 'pointwise 9->13', inShape: [6, 7, 9], kernel: [1, 1], strides: [1, 1], padding: 'valid', outC: 13, n: 2 },
  { name: 'stride 3 same, 12 channels', inShape: [9, 9, 4], kernel: [3, 3], strides: [3, 3], padding: 'same', outC: 12, n: 2 },
  { name: 'stride 2 same even input', inShape: [8, 6, 2], kernel: [3, 3], strides: [2, 2], padding: 'same', outC: 3, n: 2 },
  { name: 'single channel, 4x5, row stride 2, ragged quads, 5 channels', inShape: [11, 10, 1], kernel: [4, 5], strides: [2, 1], padding: 'same', outC: 5, n: 3 },
  { name: 'single channel valid, odd width, 7 channels', inShape: [9, 13, 1], kernel: [5, 4], strides: [1, 1], padding: 'valid', outC: 7, n: 2 },
];

describe('fast convolution vs the reference', () => {
  for (const c of CONV_CASES) {
    it(c.name, () => {
      const g = windowGeometry(c.inShape, c.kernel, c.strides, c.padding);
      const { outC, n } = c;
      const K = g.kH * g.kW * g.inC;
      const x = random(n * g.inH * g.inW * g.inC, 1);
      const w = random(K * outC, 2, 0);
      const bias = random(outC, 3, 0);
      const dy = random(n * g.outH * g.outW * outC, 4);
      const scratch = heap.f32(conv2dScratchBytes(g, outC) / 4);
      const ref = new Float64Array(conv2dScratchSize(g, outC));

      const y = heap.f32(dy.length);
      const yRef = new Float32Array(dy.length);
      k.conv2dForward(g, outC, n, x, w, bias, y, scratch);
      conv2dForward(g, outC, n, x, w, bias, yRef, ref);
      expect(relError(y, yRef)).toBeLessThan(TOLERANCE);

      k.conv2dForward(g, outC, n, x, w, bias, y, scratch, 'relu');
      activationForward('relu', yRef.length, outC, yRef, yRef);
      expect(relError(y, yRef)).toBeLessThan(TOLERANCE);

      const dx = heap.f32(x.length);
      const dxRef = new Float32Array(x.length);
      k.conv2dBackwardInput(g, outC, n, dy, w, dx, scratch);
      conv2dBackwardInput(g, outC, n, dy, w, dxRef, ref);
      expect(relError(dx, dxRef)).toBeLessThan(TOLERANCE);

      const dw = heap.f32(w.length);
      const db = heap.f32(outC);
      const dwRef = new Float32Array(w.length);
      const dbRef = new Float32Array(outC);
      k.conv2dBackwardFilter(g, outC, n, x, dy, dw, db, scratch);
      conv2dBackwardFilter(g, outC, n, x, dy, dwRef, dbRef, ref);
      expect(relError(dw, dwRef)).toBeLessThan(TOLERANCE);
      expect(relError(db, dbRef)).toBeLessThan(TOLERANCE);
    });
  }

  it('scratch sizes match the module', () => {
    for (const c of CONV_CASES) {
      const g = windowGeometry(c.inShape, c.kernel, c.strides, c.padding);
      const args = [g.inH, g.inW, g.inC, g.kH, g.kW, g.strideH, g.strideW, g.outH, g.outW, g.padTop, g.padLeft, c.outC] as const;
      expect(conv2dForwardScratchBytes(g, c.outC)).toBe(k.raw.conv2dForwardScratch(...args));
      expect(conv2dBackwardInputScratchBytes(g, c.outC)).toBe(k.raw.conv2dBackwardInputScratch(...args));
      expect(conv2dBackwardFilterScratchBytes(g, c.outC)).toBe(k.raw.conv2dBackwardFilterScratch(...args));
    }
  });

  it('uses its own scratch when none is given', () => {
    const g = windowGeometry([14, 14, 6], [5, 5], [1, 1], 'valid');
    const x = random(2 * 14 * 14 * 6, 5);
    const w = random(5 * 5 * 6 * 16, 6, 0);
    const y = heap.f32(2 * 10 * 10 * 16);
    const yRef = new Float32Array(y.length);
    k.conv2dForward(g, 16, 2, x, w, null, y);
    conv2dForward(g, 16, 2, x, w, null, yRef, new Float64Array(conv2dScratchSize(g, 16)));
    expect(relError(y, yRef)).toBeLessThan(TOLERANCE);
  });
});

const DENSE_CASES: [string, number, number, number][] = [
  ['seed 1014->10', 8, 1014, 10],
  ['lenet5 400->120', 32, 400, 120],
  ['lenet5 120->84', 32, 120, 84],
  ['lenet5 84->10', 8, 84, 10],
  ['convnet 1600->10', 32, 1600, 10],
  ['n=1, 3->1', 1, 3, 1],
  ['odd 7 rows 33->19', 7, 33, 19],
];

describe('fast dense vs the reference', () => {
  for (const [name, n, inDim, outDim] of DENSE_CASES) {
    it(name, () => {
      const x = random(n * inDim, 11);
      const w = random(inDim * outDim, 12, 0);
      const bias = random(outDim, 13, 0);
      const dy = random(n * outDim, 14);
      const scratch = heap.f32(conv2dScratchBytes(denseGeometry(n, inDim), outDim) / 4);
      const acc = new Float64Array(outDim);

      const y = heap.f32(n * outDim);
      const yRef = new Float32Array(n * outDim);
      k.denseForward(n, inDim, outDim, x, w, bias, y, scratch);
      denseForward(n, inDim, outDim, x, w, bias, yRef, acc);
      expect(relError(y, yRef)).toBeLessThan(TOLERANCE);

      const dx = heap.f32(n * inDim);
      const dxRef = new Float32Array(n * inDim);
      k.denseBackwardInput(n, inDim, outDim, dy, w, dx, scratch);
      denseBackwardInput(n, inDim, outDim, dy, w, dxRef);
      expect(relError(dx, dxRef)).toBeLessThan(TOLERANCE);

      const dw = heap.f32(inDim * outDim);
      const db = heap.f32(outDim);
      const dwRef = new Float32Array(inDim * outDim);
      const dbRef = new Float32Array(outDim);
      k.denseBackwardFilter(n, inDim, outDim, x, dy, dw, db, scratch);
      denseBackwardFilter(n, inDim, outDim, x, dy, dwRef, dbRef, acc);
      expect(relError(dw, dwRef)).toBeLessThan(TOLERANCE);
      expect(relError(db, dbRef)).toBeLessThan(TOLERANCE);
    });
  }
});

const POOL_CASES: [string, [number, number, number], [number, number], [number, number], Padding, number][] = [
  ['seed/lenet/convnet 2x2 on 6 channels', [28, 28, 6], [2, 2], [2, 2], 'valid', 4],
  ['2x2 on 16 channels, odd size', [27, 27, 16], [2, 2], [2, 2], 'valid', 2],
  ['3x3 stride 2 same, 3 channels (scalar path)', [9, 8, 3], [3, 3], [2, 2], 'same', 2],
  ['overlapping 3x3 stride 1 same, 5 channels', [6, 7, 5], [3, 3], [1, 1], 'same', 1],
];

describe('fast pooling equals the reference bit for bit', () => {
  for (const [name, inShape, pool, strides, padding, n] of POOL_CASES) {
    it(name, () => {
      const g: WindowGeometry = windowGeometry(inShape, pool, strides, padding);
      const inSize = g.inH * g.inW * g.inC;
      const outSize = g.outH * g.outW * g.inC;
      const x = random(n * inSize, 21);
      // ties, signed zeros and NaNs (with payloads) exercise the winner rules
      for (let i = 0; i < x.length; i += 7) x[i] = x[i + 1] ?? 0;
      for (let i = 3; i < x.length; i += 11) x[i] = -0;
      const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
      for (let i = 5; i < x.length; i += 97) u[i] = 0x7fc00000 + (i & 0xff);
      for (let i = 9; i < x.length; i += 89) u[i] = 0xffc00001;
      const dy = random(n * outSize, 22);
      for (const kind of ['max', 'min'] as const) {
        const y = heap.f32(n * outSize);
        const arg = heap.i32(n * outSize);
        const yRef = new Float32Array(n * outSize);
        const argRef = new Int32Array(n * outSize);
        k.extremePoolForward(kind, g, n, x, y, arg);
        extremePoolForward(kind, g, n, x, yRef, argRef);
        expectBitwise(y, yRef, `${kind} y`);
        expectBitwise(arg, argRef, `${kind} argIndex`);
        const dx = heap.f32(n * inSize);
        const dxRef = new Float32Array(n * inSize);
        k.extremePoolBackward(n, inSize, outSize, dy, arg, dx);
        extremePoolBackward(n, inSize, outSize, dy, argRef, dxRef);
        expectBitwise(dx, dxRef, `${kind} dx`);
      }
      const xa = random(n * inSize, 23);
      const y = heap.f32(n * outSize);
      const yRef = new Float32Array(n * outSize);
      k.avgPoolForward(g, n, xa, y);
      avgPoolForward(g, n, xa, yRef);
      expectBitwise(y, yRef, 'avg y');
      const dx = heap.f32(n * inSize);
      const dxRef = new Float32Array(n * inSize);
      k.avgPoolBackward(g, n, dy, dx);
      avgPoolBackward(g, n, dy, dxRef);
      expectBitwise(dx, dxRef, 'avg dx');
    });
  }

  it('rejects a winner index outside dx instead of writing there', () => {
    const dy = random(4, 24);
    const arg = heap.i32(4);
    arg.set([0, 1, 2, 99]);
    expect(() => k.extremePoolBackward(1, 8, 4, dy, arg, heap.f32(8))).toThrow();
  });
});

describe('fast activations, loss, reduction and updates equal the reference bit for bit', () => {
  it('relu forward and backward (in place too), with -0 and NaN', () => {
    const count = 1003;
    const x = random(count, 31, 0.2);
    x[1] = -0;
    x[2] = NaN;
    const y = heap.f32(count);
    const yRef = new Float32Array(count);
    k.activationForward('relu', count, 17, x, y);
    activationForward('relu', count, 17, x, yRef);
    expectBitwise(y, yRef, 'relu y');
    const dy = random(count, 32);
    const dyRef = dy.slice();
    k.activationBackward('relu', count, 17, y, dy, dy);
    activationBackward('relu', count, 17, yRef, dyRef, dyRef);
    expectBitwise(dy, dyRef, 'relu dx');
  });

  it('softmax forward and backward', () => {
    const rows = 13;
    const width = 10;
    const x = random(rows * width, 33);
    for (let i = 0; i < x.length; i++) x[i] *= 30;
    const y = heap.f32(rows * width);
    const yRef = new Float32Array(rows * width);
    k.activationForward('softmax', rows * width, width, x, y);
    softmaxRows(rows, width, x, yRef);
    expectBitwise(y, yRef, 'softmax y');
    const dy = random(rows * width, 34);
    const dx = heap.f32(rows * width);
    const dxRef = new Float32Array(rows * width);
    k.activationBackward('softmax', rows * width, width, y, dy, dx);
    activationBackward('softmax', rows * width, width, yRef, dy, dxRef);
    expectBitwise(dx, dxRef, 'softmax dx');
  });

  it('sigmoid and tanh fall back to the reference', () => {
    const x = random(40, 35);
    const y = heap.f32(40);
    const yRef = new Float32Array(40);
    k.activationForward('tanh', 40, 10, x, y);
    activationForward('tanh', 40, 10, x, yRef);
    expectBitwise(y, yRef, 'tanh');
  });

  it('softmax cross-entropy from logits, sparse and dense targets', () => {
    const rows = 32;
    const width = 10;
    const logits = random(rows * width, 36);
    for (let i = 0; i < logits.length; i++) logits[i] *= 20;
    const sparse = heap.i32(rows);
    for (let r = 0; r < rows; r++) sparse[r] = (r * 7) % width;
    const dense = random(rows * width, 37, 0.5);
    for (const targets of [{ sparse }, { dense }]) {
      const out = heap.f32(rows * width);
      out.set(logits);
      const outRef = logits.slice();
      const grad = heap.f32(rows * width);
      const gradRef = new Float32Array(rows * width);
      const loss = k.softmaxCrossEntropyFromLogits(rows, width, out, targets, grad);
      const lossRef = softmaxCrossEntropyFromLogits(rows, width, outRef, targets, gradRef);
      expect(loss).toBe(lossRef);
      expectBitwise(out, outRef, 'probabilities');
      expectBitwise(grad, gradRef, 'grad');
    }
  });

  it('addInto over a range', () => {
    const a = random(1001, 38);
    const b = random(1001, 39);
    const aRef = a.slice();
    k.addInto(a, b, 3, 998);
    addInto(aRef, b, 3, 998);
    expectBitwise(a, aRef, 'addInto');
  });

  it('bytesToFloats gives every byte its byteLut value under any scale, as the reference does', () => {
    // Every byte value, in SIMD lanes and (count not a multiple of 16) in the scalar tail.
    const count = 256 + 16 + 5;
    const src = heap.u8(count);
    for (let i = 0; i < count; i++) src[i] = (i * 37 + 11) & 0xff;
    for (let i = 0; i < 256; i++) src[i] = i;
    const dst = heap.f32(count);
    const ref = new Float32Array(count);
    // 1/255 (pixels) and others whose float32 product differs from the float64 one for some bytes.
    for (const scale of [1 / 255, 1, 0.1, 1 / 3, 2.5e-3, 0]) {
      dst.fill(Number.NaN);
      k.bytesToFloats(src, dst, count, scale);
      bytesToFloats(src, ref, count, scale);
      expectBitwise(dst, ref, `bytesToFloats scale ${scale}`);
      const lut = byteLut(scale);
      for (let i = 0; i < count; i++) expect(dst[i], `byte ${src[i]} scale ${scale}`).toBe(lut[src[i]]);
    }
    // Only count values are written.
    dst.fill(-1);
    k.bytesToFloats(src, dst, 7, 1 / 255);
    expect(dst[7]).toBe(-1);
    expect(dst[6]).toBe(byteLut(1 / 255)[6]);
  });

  it('allFinite finds one NaN or infinity anywhere in its range, as the reference does', () => {
    const a = random(1003, 40);
    // The largest finite floats are finite: x - x is 0 for them too.
    a[0] = 3.4028234663852886e38;
    a[1] = -3.4028234663852886e38;
    expect(k.allFinite(a)).toBe(true);
    expect(allFinite(a)).toBe(true);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      // SIMD lanes at the start, the middle and the last full vector, and the scalar tail.
      for (const at of [0, 5, 500, 999, 1002]) {
        const saved = a[at];
        a[at] = bad;
        expect(k.allFinite(a), `${bad} at ${at}`).toBe(false);
        expect(allFinite(a), `${bad} at ${at}`).toBe(false);
        a[at] = saved;
      }
    }
    // Only the range is read.
    a[2] = Number.NaN;
    expect(k.allFinite(a, 3, 1003)).toBe(true);
    expect(k.allFinite(a, 0, 3)).toBe(false);
    expect(allFinite(a, 3, 1003)).toBe(true);
  });

  it('Adam and SGD updates, after turning the gradient sum into the mean', () => {
    const size = 1001;
    const optimizers = [new Adam(), new Adam({ learningRate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-5 }), new SGD({ learningRate: 0.1 }), new SGD({ learningRate: 0.05, momentum: 0.9 }), new SGD({ learningRate: 0.05, momentum: 0.9, nesterov: true })];
    for (const opt of optimizers) {
      const params = random(size, 40);
      const slots = opt.slotNames.map(() => heap.f32(size));
      const paramsRef = params.slice();
      const slotsRef = opt.slotNames.map(() => new Float32Array(size));
      for (let it = 1; it <= 3; it++) {
        const grad = random(size, 41 + it);
        const gradRef = grad.slice();
        k.applyUpdate(opt, params, grad, slots, 32, it, 1, size - 2);
        for (let i = 1; i < size - 2; i++) gradRef[i] /= 32;
        opt.apply(paramsRef, gradRef, slotsRef, it, 1, size - 2);
        expectBitwise(grad, gradRef, `${opt.className} mean gradient`);
      }
      expectBitwise(params, paramsRef, `${opt.className} params`);
      slots.forEach((s, i) => expectBitwise(s, slotsRef[i], `${opt.className} slot ${i}`));
    }
  });
});

describe('argument checks', () => {
  it('rejects views that are not in the heap, naming the argument', () => {
    const g = windowGeometry([4, 4, 1], [2, 2], [1, 1], 'valid');
    const w = random(4, 51);
    const y = heap.f32(9);
    expect(() => k.conv2dForward(g, 1, 1, new Float32Array(16), w, null, y)).toThrow(/x is not a view of the kernel heap/);
    const other = KernelHeap.create(1024);
    expect(() => k.conv2dForward(g, 1, 1, other.f32(16), w, null, y)).toThrow(/x is not a view/);
    expect(() => k.conv2dForward(g, 1, 1, new Float32Array(new SharedArrayBuffer(1024), 64, 16), w, null, y)).toThrow(/x is not a view/);
  });

  it('rejects views too short for the shape', () => {
    const g = windowGeometry([4, 4, 1], [2, 2], [1, 1], 'valid');
    expect(() => k.conv2dForward(g, 1, 2, random(16, 52), random(4, 53), null, heap.f32(18))).toThrow(/x holds 16 elements, the shape needs 32/);
  });
});
