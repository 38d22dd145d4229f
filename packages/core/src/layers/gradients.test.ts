/*
 * Finite-difference gradient checks for every layer and loss.
 *
 * Method: each layer's float32 forward/backward is compared with a float64 reference written here from
 * the definitions (Keras' padding rule, TF's pooling over real cells only, ...), and the float32
 * gradients with central differences of that float64 reference (h = 1e-6, so the difference quotient
 * is exact to ~1e-9 relative). The reference forward is itself checked against our forward, so the
 * pair "our forward == reference forward, our backward == d(reference)/d(input)" pins both passes.
 *
 * Tolerance: float32 arithmetic with float64 accumulators loses ~1e-7 relative; a wrong index, a
 * missing term or a padding shift costs O(1). We assert max|a - b| / max|b| <= 1e-5 per tensor (and
 * hence elementwise |a - b| <= 1e-5 max|b|), far from both.
 *
 * Kinks: relu, max/min pooling and clipping are not differentiable everywhere. Inputs are distinct
 * values at least 2/N apart (a shuffled grid plus jitter), so no central difference with h = 1e-6
 * crosses a pooling tie or (with probability ~1e-5) a relu kink.
 */
import { describe, expect, it } from 'vitest';
import type { Targets } from '../kernels/losses.js';
import { resolveLoss, losses as lossFactories, type Loss } from '../losses/index.js';
import { referenceKernels } from '../kernels/reference.js';
import { Arena, type BufferRequest, bytesFor } from '../memory/arena.js';
import { Workspace } from '../model/workspace.js';
import { Sequential } from '../model/sequential.js';
import { CounterRandom, Purpose } from '../random/philox.js';
import { sizeOf } from '../shape.js';
import { tensor, Tensor } from '../tensor.js';
import { gradientOfShard, type StepJob } from '../train/gradient.js';
import { shardCount, slotsForBlock, sumBlock, treeSpan } from '../train/tree.js';
import { Activation, AveragePooling2D, Conv2D, Dense, Dropout, Flatten, layers, MaxPooling2D, MinPooling2D } from './index.js';
import type { Layer, LayerIO, PassContext } from './layer.js';
import { mulberry32 } from '../testing/mulberry.js';

/**
 * Layers are checked here on the reference kernels, which take any arrays; the fast kernels are
 * checked against the reference in kernels/wasm, and whole models train on them elsewhere.
 */
function scratchOf(requests: BufferRequest[]) {
  return Arena.unshared(bytesFor(requests)).allocAll(requests);
}

const H = 1e-6;
const TOL = 1e-5;

// ---------------------------------------------------------------------------------------------
// Deterministic test data (mulberry32: independent of the library's generator).

const rng = mulberry32;

function uniform(n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** n distinct values in [-1, 1], at least ~2/n apart: a shuffled grid with a little jitter. */
function distinct(n: number, r: () => number): Float32Array {
  const v = Array.from({ length: n }, (_, i) => -1 + (2 * (i + 0.25 + 0.5 * r())) / n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [v[i], v[j]] = [v[j], v[i]];
  }
  return Float32Array.from(v);
}

// ---------------------------------------------------------------------------------------------
// The float64 reference, from the definitions.

type F64 = Float64Array;

interface RefGeometry {
  inH: number; inW: number; inC: number; kH: number; kW: number; sH: number; sW: number;
  outH: number; outW: number; padTop: number; padLeft: number;
}

/** TensorFlow's rule: valid: floor((n - k) / s) + 1; same: ceil(n / s), the smaller half of the padding first. */
function refGeometry(inShape: readonly number[], k: readonly number[], s: readonly number[], padding: string): RefGeometry {
  const dim = (n: number, kk: number, ss: number) => {
    if (padding === 'valid') return { out: Math.floor((n - kk) / ss) + 1, before: 0 };
    const out = Math.ceil(n / ss);
    return { out, before: Math.floor(Math.max((out - 1) * ss + kk - n, 0) / 2) };
  };
  const h = dim(inShape[0], k[0], s[0]);
  const w = dim(inShape[1], k[1], s[1]);
  return { inH: inShape[0], inW: inShape[1], inC: inShape[2], kH: k[0], kW: k[1], sH: s[0], sW: s[1], outH: h.out, outW: w.out, padTop: h.before, padLeft: w.before };
}

function refConv(g: RefGeometry, F: number, n: number, x: F64, w: F64, b: F64 | null): F64 {
  const y = new Float64Array(n * g.outH * g.outW * F);
  for (let s = 0; s < n; s++)
    for (let oh = 0; oh < g.outH; oh++)
      for (let ow = 0; ow < g.outW; ow++)
        for (let f = 0; f < F; f++) {
          let sum = b ? b[f] : 0;
          for (let kh = 0; kh < g.kH; kh++)
            for (let kw = 0; kw < g.kW; kw++) {
              const ih = oh * g.sH - g.padTop + kh;
              const iw = ow * g.sW - g.padLeft + kw;
              if (ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW) continue;
              for (let c = 0; c < g.inC; c++) sum += x[((s * g.inH + ih) * g.inW + iw) * g.inC + c] * w[((kh * g.kW + kw) * g.inC + c) * F + f];
            }
          y[((s * g.outH + oh) * g.outW + ow) * F + f] = sum;
        }
  return y;
}

/** Pooling over the real cells of each window only (padding never takes part). */
function refPool(kind: string, g: RefGeometry, n: number, x: F64): F64 {
  const y = new Float64Array(n * g.outH * g.outW * g.inC);
  for (let s = 0; s < n; s++)
    for (let oh = 0; oh < g.outH; oh++)
      for (let ow = 0; ow < g.outW; ow++)
        for (let c = 0; c < g.inC; c++) {
          const cells: number[] = [];
          for (let kh = 0; kh < g.kH; kh++)
            for (let kw = 0; kw < g.kW; kw++) {
              const ih = oh * g.sH - g.padTop + kh;
              const iw = ow * g.sW - g.padLeft + kw;
              if (ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW) cells.push(x[((s * g.inH + ih) * g.inW + iw) * g.inC + c]);
            }
          y[((s * g.outH + oh) * g.outW + ow) * g.inC + c] =
            kind === 'max' ? Math.max(...cells) : kind === 'min' ? Math.min(...cells) : cells.reduce((a, v) => a + v, 0) / cells.length;
        }
  return y;
}

function refDense(n: number, inDim: number, out: number, x: F64, w: F64, b: F64 | null): F64 {
  const y = new Float64Array(n * out);
  for (let s = 0; s < n; s++)
    for (let o = 0; o < out; o++) {
      let sum = b ? b[o] : 0;
      for (let k = 0; k < inDim; k++) sum += x[s * inDim + k] * w[k * out + o];
      y[s * out + o] = sum;
    }
  return y;
}

function refActivation(kind: string, x: F64, width: number): F64 {
  const y = new Float64Array(x.length);
  if (kind === 'softmax') {
    for (let r = 0; r < x.length; r += width) {
      let max = -Infinity;
      for (let j = 0; j < width; j++) max = Math.max(max, x[r + j]);
      let sum = 0;
      for (let j = 0; j < width; j++) sum += Math.exp(x[r + j] - max);
      for (let j = 0; j < width; j++) y[r + j] = Math.exp(x[r + j] - max) / sum;
    }
    return y;
  }
  const f: Record<string, (v: number) => number> = {
    linear: (v) => v,
    relu: (v) => Math.max(v, 0),
    sigmoid: (v) => 1 / (1 + Math.exp(-v)),
    tanh: Math.tanh,
  };
  for (let i = 0; i < x.length; i++) y[i] = f[kind](x[i]);
  return y;
}

/** The keep decision of inverted dropout: draw (seed, dropout, layer, step; sample position * size + j) >= rate. */
function dropoutKeep(seed: number, layerIndex: number, step: number, index: number, rate: number): boolean {
  return new CounterRandom(seed, Purpose.dropout, layerIndex, step).uniform(index) >= rate;
}

interface RefContext {
  seed: number;
  step: number;
  firstSample: number;
  layerIndex: number;
  training: boolean;
}

/** One layer of the reference, reading the layer's configuration (not its code). */
function refLayer(layer: Layer, x: F64, n: number, p: F64[], ctx: RefContext): F64 {
  if (layer instanceof Conv2D) {
    const g = refGeometry(layer.inputShape, layer.kernelSize, layer.strides, layer.padding);
    return refActivation(layer.activation, refConv(g, layer.filters, n, x, p[0], layer.useBias ? p[1] : null), layer.filters);
  }
  if (layer instanceof Dense) {
    return refActivation(layer.activation, refDense(n, layer.inputShape[0], layer.units, x, p[0], layer.useBias ? p[1] : null), layer.units);
  }
  if (layer instanceof MaxPooling2D || layer instanceof MinPooling2D || layer instanceof AveragePooling2D) {
    return refPool(layer.kind, refGeometry(layer.inputShape, layer.poolSize, layer.strides, layer.padding), n, x);
  }
  if (layer instanceof Activation) return refActivation(layer.activation, x, layer.inputShape[layer.inputShape.length - 1]);
  if (layer instanceof Flatten) return x.slice();
  if (layer instanceof Dropout) {
    if (!ctx.training) return x.slice();
    const size = sizeOf(layer.inputShape);
    const y = new Float64Array(x.length);
    for (let i = 0; i < n * size; i++) {
      y[i] = dropoutKeep(ctx.seed, ctx.layerIndex, ctx.step, ctx.firstSample * size + i, layer.rate) ? x[i] / (1 - layer.rate) : 0;
    }
    return y;
  }
  throw new Error(`no reference for ${layer.className}`);
}

// Losses from their definitions: sums over samples of the per-sample loss.
const CLIP = 1e-7;
const clip = (p: number) => Math.min(Math.max(p, CLIP), 1 - CLIP);

function refLoss(kind: 'sparseCE' | 'categoricalCE' | 'mse' | 'sparseCEFromLogits', out: F64, width: number, sparse: Int32Array | null, dense: F64 | null): number {
  let total = 0;
  const rows = out.length / width;
  if (kind === 'sparseCEFromLogits') return refLoss('sparseCE', refActivation('softmax', out, width), width, sparse, dense);
  for (let r = 0; r < rows; r++) {
    if (kind === 'sparseCE') total -= Math.log(clip(out[r * width + sparse![r]]));
    else if (kind === 'categoricalCE') for (let j = 0; j < width; j++) total -= dense![r * width + j] * Math.log(clip(out[r * width + j]));
    else {
      let sum = 0;
      for (let j = 0; j < width; j++) sum += (out[r * width + j] - dense![r * width + j]) ** 2;
      total += sum / width;
    }
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Comparison helpers.

/** max|ours - ref| / max|ref| over a tensor; fails when it exceeds tol (or the reference is all zero). */
function expectClose(what: string, ours: ArrayLike<number>, ref: ArrayLike<number>, tol = TOL): number {
  expect(ours.length, `${what}: length`).toBe(ref.length);
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    maxDiff = Math.max(maxDiff, Math.abs(ours[i] - ref[i]));
  }
  expect(maxRef, `${what}: the reference is all zero, so the check could not fail`).toBeGreaterThan(0);
  const rel = maxDiff / maxRef;
  expect(rel, `${what}: max|a-b|/max|b| = ${rel.toExponential(2)}`).toBeLessThanOrEqual(tol);
  return rel;
}

/** Central differences of f with respect to every entry of v (perturbed in place and restored). */
function numericGradient(f: () => number, v: F64): F64 {
  const g = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const old = v[i];
    v[i] = old + H;
    const plus = f();
    v[i] = old - H;
    const minus = f();
    v[i] = old;
    g[i] = (plus - minus) / (2 * H);
  }
  return g;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

// ---------------------------------------------------------------------------------------------
// One layer on its own: forward and backward through a LayerIO built here, loss = <r, y>.

interface LayerCheck {
  n?: number;
  seed?: number;
  ctx?: Partial<RefContext>;
}

function checkLayer(layer: Layer, inShape: number[], o: LayerCheck = {}): { y: Float32Array; dx: Float32Array; grads: Float32Array[]; scratch: LayerIO['scratch'] } {
  const n = o.n ?? 2;
  const r = rng(o.seed ?? 1);
  layer.build(inShape);
  const inSize = sizeOf(inShape);
  const outSize = sizeOf(layer.outputShape);
  const x = distinct(n * inSize, r);
  const params = layer.paramSpecs().map((s) => uniform(sizeOf(s.shape), r, -0.5, 0.5));
  const dLdy = uniform(n * outSize, r);
  const views = scratchOf(layer.scratchRequests(n, true, referenceKernels));
  const io: LayerIO = {
    x, y: new Float32Array(n * outSize), dx: new Float32Array(n * inSize), dy: dLdy.slice(),
    params, grads: params.map((p) => new Float32Array(p.length).fill(NaN)), scratch: views,
  };
  const rc: RefContext = { seed: 3, step: 0, firstSample: 0, layerIndex: 0, training: true, ...o.ctx };
  const ctx: PassContext = { n, training: rc.training, seed: rc.seed, step: rc.step, firstSample: rc.firstSample, layerIndex: rc.layerIndex, skipActivation: false, kernels: referenceKernels };
  layer.forward(io, ctx);
  const y = io.y.slice();
  io.dx!.fill(NaN);
  layer.backward(io, ctx);

  const x64 = Float64Array.from(x);
  const p64 = params.map((p) => Float64Array.from(p));
  const loss = () => dot(dLdy, refLayer(layer, x64, n, p64, rc));
  const what = `${layer.className} ${JSON.stringify(layer.getLayerConfig())} on ${JSON.stringify(inShape)}`;
  expectClose(`${what}: forward`, y, refLayer(layer, x64, n, p64, rc));
  expectClose(`${what}: dx`, io.dx!, numericGradient(loss, x64));
  p64.forEach((p, k) => expectClose(`${what}: d${layer.paramSpecs()[k].name}`, io.grads[k], numericGradient(loss, p)));
  return { y, dx: io.dx!, grads: io.grads, scratch: views };
}

const ACTS = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax'] as const;

describe('conv2d gradients (float64 central differences)', () => {
  const cases: { inShape: number[]; filters: number; kernelSize: number | [number, number]; strides?: number | [number, number]; padding: 'valid' | 'same'; useBias: boolean; activation: string }[] = [
    { inShape: [7, 9, 3], filters: 4, kernelSize: 3, padding: 'valid', useBias: true, activation: 'linear' },
    { inShape: [7, 9, 3], filters: 4, kernelSize: 3, padding: 'same', useBias: true, activation: 'relu' },
    { inShape: [7, 9, 2], filters: 3, kernelSize: 3, strides: 2, padding: 'same', useBias: true, activation: 'sigmoid' },
    { inShape: [7, 9, 2], filters: 3, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, activation: 'tanh' },
    { inShape: [8, 6, 1], filters: 2, kernelSize: 2, padding: 'same', useBias: true, activation: 'softmax' },
    { inShape: [8, 7, 2], filters: 5, kernelSize: [2, 3], strides: [2, 1], padding: 'same', useBias: false, activation: 'relu' },
    { inShape: [5, 5, 2], filters: 2, kernelSize: 4, strides: 2, padding: 'same', useBias: true, activation: 'linear' },
    { inShape: [7, 9, 3], filters: 2, kernelSize: 3, strides: 2, padding: 'valid', useBias: true, activation: 'relu' },
    { inShape: [4, 4, 2], filters: 3, kernelSize: 4, padding: 'valid', useBias: true, activation: 'tanh' },
    { inShape: [9, 7, 1], filters: 1, kernelSize: 1, strides: 3, padding: 'same', useBias: false, activation: 'sigmoid' },
  ];
  for (const c of cases) {
    const { inShape, ...config } = c;
    it(`${JSON.stringify(config)} on ${JSON.stringify(inShape)}`, () => {
      checkLayer(layers.conv2d(config), inShape, { n: 2, seed: inShape[0] * 31 + c.filters });
    });
  }

  it('covers every activation', () => {
    for (const a of ACTS) expect(cases.some((c) => c.activation === a), a).toBe(true);
  });
});

describe('pooling gradients (float64 central differences)', () => {
  const geometries: { inShape: number[]; poolSize?: number | [number, number]; strides?: number | [number, number]; padding?: 'valid' | 'same' }[] = [
    { inShape: [7, 9, 2] },
    { inShape: [7, 9, 2], poolSize: 2, padding: 'same' },
    { inShape: [7, 9, 2], poolSize: 3, strides: 2, padding: 'valid' },
    { inShape: [7, 9, 2], poolSize: 3, strides: 2, padding: 'same' },
    { inShape: [5, 8, 3], poolSize: [2, 3], strides: [1, 2], padding: 'same' },
    { inShape: [5, 5, 1], poolSize: 3, strides: 1, padding: 'same' },
  ];
  const factories = { max: layers.maxPooling2d, avg: layers.averagePooling2d, min: layers.minPooling2d };
  for (const [kind, make] of Object.entries(factories)) {
    for (const { inShape, ...config } of geometries) {
      it(`${kind} ${JSON.stringify(config)} on ${JSON.stringify(inShape)}`, () => {
        checkLayer(make(config), inShape, { n: 2, seed: 11 + inShape[1] });
      });
    }
  }

  it('max pooling sends each window gradient to its winner only, summing where windows overlap', () => {
    // 3x3 pool with stride 1 on 3x4: the centre cells win several windows.
    const layer = layers.maxPooling2d({ poolSize: 3, strides: 1 });
    const { dx } = checkLayer(layer, [3, 4, 1], { n: 1 });
    const nonzero = Array.from(dx).filter((v) => v !== 0).length;
    expect(nonzero).toBeLessThanOrEqual(2);
  });
});

describe('dense gradients (float64 central differences)', () => {
  const cases = [
    { units: 5, activation: 'linear', useBias: true },
    { units: 5, activation: 'relu', useBias: true },
    { units: 4, activation: 'sigmoid', useBias: false },
    { units: 6, activation: 'tanh', useBias: true },
    { units: 5, activation: 'softmax', useBias: true },
    { units: 3, activation: 'softmax', useBias: false },
  ];
  for (const c of cases) {
    it(JSON.stringify(c), () => {
      checkLayer(layers.dense(c), [7], { n: 3, seed: c.units * 7 });
    });
  }
});

describe('activation layer gradients (float64 central differences)', () => {
  for (const activation of ACTS) {
    it(`${activation} on [3, 4, 5] and on [6]`, () => {
      checkLayer(layers.activation({ activation }), [3, 4, 5], { n: 2, seed: 5 });
      checkLayer(layers.activation({ activation }), [6], { n: 3, seed: 6 });
    });
  }

  it('softmax normalises over the last axis only', () => {
    const { y } = checkLayer(layers.activation({ activation: 'softmax' }), [2, 3, 4], { n: 1 });
    for (let r = 0; r < y.length; r += 4) expect(y[r] + y[r + 1] + y[r + 2] + y[r + 3]).toBeCloseTo(1, 6);
  });
});

describe('dropout', () => {
  it('gradient with the mask of (seed, layer, step, sample position) matches central differences', () => {
    const layer = layers.dropout({ rate: 0.3 });
    const ctx = { seed: 7, step: 3, firstSample: 2, layerIndex: 1 };
    const { y, scratch } = checkLayer(layer, [4, 5, 3], { n: 3, ctx });
    const keep = scratch.get('keep') as Uint8Array;
    const size = 60;
    let kept = 0;
    for (let i = 0; i < 3 * size; i++) {
      expect(keep[i], `mask at ${i}`).toBe(dropoutKeep(7, 1, 3, 2 * size + i, 0.3) ? 1 : 0);
      kept += keep[i];
      if (!keep[i]) expect(y[i]).toBe(0);
    }
    // 180 Bernoulli(0.7) draws: mean 126, sd 6.1
    expect(kept).toBeGreaterThan(100);
    expect(kept).toBeLessThan(152);
  });

  it('the same seed and step give the same mask; another step or seed gives another one', () => {
    const masks = (seed: number, step: number) => {
      const layer = layers.dropout({ rate: 0.5 });
      return Array.from(checkLayer(layer, [40], { n: 2, ctx: { seed, step } }).scratch.get('keep') as Uint8Array);
    };
    expect(masks(1, 0)).toEqual(masks(1, 0));
    expect(masks(1, 1)).not.toEqual(masks(1, 0));
    expect(masks(2, 0)).not.toEqual(masks(1, 0));
  });

  it('a sample gets the same mask whatever micro-shard carries it', () => {
    const run = (n: number, firstSample: number) => {
      const layer = layers.dropout({ rate: 0.5 });
      layer.build([10]);
      const views = scratchOf(layer.scratchRequests(n, true, referenceKernels));
      const x = new Float32Array(n * 10).fill(1);
      const io: LayerIO = { x, y: new Float32Array(n * 10), dx: null, dy: null, params: [], grads: [], scratch: views };
      layer.forward(io, { n, training: true, seed: 9, step: 4, firstSample, layerIndex: 2, skipActivation: false, kernels: referenceKernels });
      return Array.from(io.y);
    };
    const whole = run(4, 0);
    expect([...run(2, 0), ...run(2, 2)]).toEqual(whole);
    expect(run(2, 1)).toEqual(whole.slice(10, 30));
  });

  it('is the identity at inference and with rate 0', () => {
    for (const [rate, training] of [[0.5, false], [0, true]] as const) {
      const layer = layers.dropout({ rate });
      layer.build([6]);
      const views = scratchOf(layer.scratchRequests(2, training, referenceKernels));
      const x = uniform(12, rng(2));
      const io: LayerIO = { x, y: new Float32Array(12), dx: new Float32Array(12), dy: uniform(12, rng(3)), params: [], grads: [], scratch: views };
      const ctx = { n: 2, training, seed: 1, step: 0, firstSample: 0, layerIndex: 0, skipActivation: false, kernels: referenceKernels };
      layer.forward(io, ctx);
      expect(Array.from(io.y)).toEqual(Array.from(x));
      if (training) {
        layer.backward(io, ctx);
        expect(Array.from(io.dx!)).toEqual(Array.from(io.dy!));
      }
    }
  });

  it('rejects rates outside [0, 1)', () => {
    for (const rate of [1, -0.1, NaN, '0.5']) expect(() => layers.dropout({ rate: rate as number })).toThrow(/dropout.rate/);
  });
});

describe('flatten', () => {
  it('maps [h, w, c] to [h * w * c] and aliases its input (NHWC rows are already flat)', () => {
    const f = layers.flatten();
    f.build([3, 4, 2]);
    expect(f.outputShape).toEqual([24]);
    expect(f.aliasesInput).toBe(true);
  });
  // Its gradient is checked inside whole models below (flatten first, and between conv and dense).
});

// ---------------------------------------------------------------------------------------------
// Loss kernels on their own.

describe('loss gradients (float64 central differences)', () => {
  const rows = 3;
  const width = 5;
  const r = rng(21);
  const labels = Int32Array.from([2, 0, 4]);
  const soft = new Float64Array(rows * width);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < width; j++) s += soft[i * width + j] = 0.1 + r();
    for (let j = 0; j < width; j++) soft[i * width + j] /= s;
  }
  const softF32 = Float32Array.from(soft);
  const softF64 = Float64Array.from(softF32);

  function check(loss: Loss, kind: Parameters<typeof refLoss>[0], out32: Float32Array, targets: Targets, fused: boolean, refKind = kind) {
    const out64 = Float64Array.from(out32);
    const grad = new Float32Array(out32.length).fill(NaN);
    const work = out32.slice();
    const value = loss.compute(rows, width, work, targets, grad, fused);
    const dense = targets.dense ? Float64Array.from(targets.dense) : null;
    const f = () => refLoss(refKind, fused ? refActivation('softmax', out64, width) : out64, width, targets.sparse ?? null, dense);
    expect(value).toBeCloseTo(f(), 5);
    expectClose(`${loss.name} fused=${fused}`, grad, numericGradient(f, out64));
    if (fused) expectClose('fused loss leaves probabilities in out', work, refActivation('softmax', out64, width), 1e-6);
    return grad;
  }

  it('sparse categorical cross-entropy fused with softmax (from logits)', () => {
    const logits = uniform(rows * width, r, -3, 3);
    check(resolveLoss('sparse_categorical_crossentropy'), 'sparseCE', logits, { sparse: labels }, true);
  });

  it('sparse categorical cross-entropy on probabilities', () => {
    check(resolveLoss('sparseCategoricalCrossentropy'), 'sparseCE', softF32, { sparse: labels }, false);
  });

  it('sparse categorical cross-entropy with fromLogits on a linear output', () => {
    const logits = uniform(rows * width, r, -3, 3);
    check(lossFactories.sparseCategoricalCrossentropy({ fromLogits: true }), 'sparseCE', logits, { sparse: labels }, true);
    // fromLogits applies the softmax even when the model's softmax was not fused
    const grad = check(lossFactories.sparseCategoricalCrossentropy({ fromLogits: true }), 'sparseCEFromLogits', logits, { sparse: labels }, false);
    expect(grad.every(Number.isFinite)).toBe(true);
  });

  it('categorical cross-entropy (soft targets) fused and on probabilities', () => {
    const targets = { dense: softF32 };
    const logits = uniform(rows * width, r, -3, 3);
    check(resolveLoss('categorical_crossentropy'), 'categoricalCE', logits, targets, true);
    check(resolveLoss('categoricalCrossentropy'), 'categoricalCE', Float32Array.from(refActivation('softmax', Float64Array.from(logits), width)), targets, false);
  });

  it('categorical cross-entropy fused stays the derivative of its loss for targets that do not sum to 1', () => {
    // Multi-hot rows: the fused gradient must be softmax * sum(t) - t, as the unfused path computes.
    const targets = { dense: Float32Array.from(softF64.map((v, i) => (i % 2 ? 2 * v : 0.5 - v))) };
    const logits = uniform(rows * width, r, -3, 3);
    const fused = check(resolveLoss('categorical_crossentropy'), 'categoricalCE', logits, targets, true);
    expect(fused.every(Number.isFinite)).toBe(true);
  });

  it('mean squared error (mean over the row)', () => {
    const out = uniform(rows * width, r, -2, 2);
    const targets = { dense: uniform(rows * width, r) };
    check(resolveLoss('mean_squared_error'), 'mse', out, targets, false);
    check(resolveLoss('mse'), 'mse', out, targets, false);
  });
});

// ---------------------------------------------------------------------------------------------
// Whole models through THE gradient step (Workspace + gradientOfShard / sumBlock): layer wiring,
// aliasing (flatten), the fused softmax, dropout keys and the loss together.

interface ModelCase {
  name: string;
  build: () => Layer[];
  loss: Loss;
  refLoss: Parameters<typeof refLoss>[0];
  /** Apply the final softmax in the reference (the model ends in one). */
  n: number;
  microBatch?: number;
  fuse: boolean;
  step?: number;
}

function checkModel(c: ModelCase): void {
  const model = new Sequential({ seed: 5, layers: c.build() });
  const network = model.network;
  const r = rng(c.n * 101 + c.name.length);
  // Random parameters (not the initializers': biases would all be zero).
  model.params.set(uniform(network.paramCount, r, -0.5, 0.5));
  const n = c.n;
  const inSize = network.inputSize;
  const width = network.outputSize;
  const x = tensor(distinct(n * inSize, r), [n, ...network.inputShape]);
  let y: Tensor;
  let sparse: Int32Array | null = null;
  let dense: F64 | null = null;
  if (c.loss.sparseTargets) {
    sparse = Int32Array.from({ length: n }, () => Math.floor(r() * width));
    y = tensor(sparse, [n], 'int32');
  } else {
    const t = uniform(n * width, r, 0, 1);
    if (c.refLoss === 'categoricalCE') for (let s = 0; s < n; s++) {
      let sum = 0;
      for (let j = 0; j < width; j++) sum += t[s * width + j];
      for (let j = 0; j < width; j++) t[s * width + j] /= sum;
    }
    dense = Float64Array.from(t);
    y = tensor(t, [n, ...network.outputShape]);
  }
  const microBatch = c.microBatch ?? n;
  const span = treeSpan(shardCount(n, microBatch));
  const ws = Workspace.create(network, model.params, { capacity: microBatch, training: true, gradSlots: slotsForBlock(span) });
  const job: StepJob = { x, y, indices: null, batchStart: 0, batchSize: n, microBatch, seed: 13, step: c.step ?? 0, loss: c.loss, fuseSoftmax: c.fuse };
  const sum = span === 1 ? { ...gradientOfShard(ws, job, 0, 0), grad: ws.gradSlots[0] } : sumBlock(ws, job, 0, span)!;
  expect(sum.count).toBe(n);

  const P = Float64Array.from(model.params);
  const views = network.layerParams.map((entries) => entries.map((e) => P.subarray(e.offset, e.offset + e.length)));
  const x64 = Float64Array.from(x.dataSync());
  const forward = () => {
    let a: F64 = x64;
    network.layers.forEach((layer, i) => {
      a = refLayer(layer, a, n, views[i], { seed: 13, step: c.step ?? 0, firstSample: 0, layerIndex: i, training: true });
    });
    return a;
  };
  const loss = () => refLoss(c.refLoss, forward(), width, sparse, dense);
  expect(sum.lossSum / loss(), `${c.name}: loss`).toBeCloseTo(1, 5);
  const numeric = numericGradient(loss, P);
  for (const e of network.params) {
    expectClose(`${c.name}: ${e.fullName}`, sum.grad.subarray(e.offset, e.offset + e.length), numeric.subarray(e.offset, e.offset + e.length));
  }
}

describe('whole-model gradients through gradientOfShard (float64 central differences)', () => {
  const seedLike = () => [
    layers.conv2d({ filters: 3, kernelSize: 2, inputShape: [7, 9, 2] }),
    layers.activation({ activation: 'relu' }),
    layers.maxPooling2d({ poolSize: 2 }),
    layers.flatten(),
    layers.dense({ units: 5 }),
    layers.activation({ activation: 'softmax' }),
  ];
  const cases: ModelCase[] = [
    { name: 'conv-relu-maxpool-flatten-dense-softmax, sparse CE fused', build: seedLike, loss: resolveLoss('sparse_categorical_crossentropy'), refLoss: 'sparseCE', n: 4, fuse: true },
    { name: 'same model, sparse CE on probabilities (softmax backward)', build: seedLike, loss: resolveLoss('sparse_categorical_crossentropy'), refLoss: 'sparseCE', n: 4, fuse: false },
    {
      name: 'flatten first, dense tanh, dropout, dense softmax; categorical CE fused; two micro-shards',
      build: () => [layers.flatten({ inputShape: [3, 4, 2] }), layers.dense({ units: 6, activation: 'tanh' }), layers.dropout({ rate: 0.4 }), layers.dense({ units: 4, activation: 'softmax' })],
      loss: resolveLoss('categorical_crossentropy'), refLoss: 'categoricalCE', n: 6, microBatch: 2, fuse: true, step: 5,
    },
    {
      name: 'same, categorical CE on probabilities',
      build: () => [layers.flatten({ inputShape: [3, 4, 2] }), layers.dense({ units: 6, activation: 'tanh' }), layers.dropout({ rate: 0.4 }), layers.dense({ units: 4, activation: 'softmax' })],
      loss: resolveLoss('categorical_crossentropy'), refLoss: 'categoricalCE', n: 6, microBatch: 4, fuse: false, step: 2,
    },
    {
      name: 'conv same stride 2 tanh, avgpool same, conv sigmoid; MSE on a [h, w, c] output',
      build: () => [
        layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh', inputShape: [7, 9, 1] }),
        layers.averagePooling2d({ poolSize: 2, padding: 'same' }),
        layers.conv2d({ filters: 2, kernelSize: 2, activation: 'sigmoid' }),
      ],
      loss: resolveLoss('mse'), refLoss: 'mse', n: 3, microBatch: 1, fuse: false,
    },
    {
      name: 'conv linear, minpool 3 stride 2 same, flatten, dense softmax; sparse CE fused',
      build: () => [
        layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [8, 7, 2] }),
        layers.minPooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
        layers.flatten(),
        layers.dense({ units: 3, activation: 'softmax' }),
      ],
      loss: resolveLoss('sparse_categorical_crossentropy'), refLoss: 'sparseCE', n: 5, microBatch: 2, fuse: true,
    },
    {
      name: 'dense logits, sparse CE fromLogits',
      build: () => [layers.dense({ units: 4, inputShape: [6] }), layers.activation({ activation: 'relu' }), layers.dense({ units: 3 })],
      loss: lossFactories.sparseCategoricalCrossentropy({ fromLogits: true }), refLoss: 'sparseCEFromLogits', n: 3, fuse: false,
    },
  ];
  for (const c of cases) it(c.name, () => checkModel(c));
});

describe('inference (predict) equals the float64 reference forward', () => {
  // In-place layers (activation, dropout) and aliasing (flatten) share buffers at inference; 300
  // samples take two chunks of the inference workspace.
  const cases: [string, () => Layer[], number[]][] = [
    ['activation first, conv same sigmoid, dropout, avgpool, flatten, dense softmax', () => [
      layers.activation({ activation: 'relu', inputShape: [5, 6, 2] }),
      layers.conv2d({ filters: 3, kernelSize: 2, padding: 'same', activation: 'sigmoid' }),
      layers.dropout({ rate: 0.5 }),
      layers.averagePooling2d({ poolSize: 2 }),
      layers.flatten(),
      layers.dense({ units: 4, activation: 'softmax' }),
    ], [5, 6, 2]],
    ['flatten first, dropout, dense tanh, activation softmax', () => [
      layers.flatten({ inputShape: [3, 3, 2] }),
      layers.dropout({ rate: 0.3 }),
      layers.dense({ units: 5, activation: 'tanh' }),
      layers.activation({ activation: 'softmax' }),
    ], [3, 3, 2]],
    ['conv stride 2, minpool same, flatten, linear activation, dense', () => [
      layers.conv2d({ filters: 2, kernelSize: 3, strides: 2, inputShape: [7, 9, 1] }),
      layers.minPooling2d({ poolSize: 2, padding: 'same' }),
      layers.flatten(),
      layers.activation({ activation: 'linear' }),
      layers.dense({ units: 3 }),
    ], [7, 9, 1]],
  ];
  for (const [name, build, inShape] of cases) {
    it(name, () => {
      const model = new Sequential({ layers: build() });
      const network = model.network;
      const r = rng(name.length);
      model.params.set(uniform(network.paramCount, r, -0.5, 0.5));
      const n = 300;
      const x = tensor(distinct(n * sizeOf(inShape), r), [n, ...inShape]);
      const P = Float64Array.from(model.params);
      let a: F64 = Float64Array.from(x.dataSync());
      network.layers.forEach((layer, i) => {
        const p = network.layerParams[i].map((e) => P.subarray(e.offset, e.offset + e.length));
        a = refLayer(layer, a, n, p, { seed: 0, step: 0, firstSample: 0, layerIndex: i, training: false });
      });
      expectClose(name, model.predict(x).dataSync(), a);
    });
  }
});
