import { F32, loadPartial, madd, relu4 } from './simd';

/*
 * Single-channel input layers (the first convolution of the built-in models: 1 -> 6 channels over
 * K = 4 or 25 taps) are too thin for the channels-in-lanes GEMM: its 8 lanes would hold 6 channels,
 * and its per-block overhead is large next to so few taps. Here the lanes hold four consecutive
 * output pixels of a row instead (consecutive input floats, since inC = 1 and the stride along the
 * row is 1): 4 quads x 2 channels per block, 8 accumulators (register-resident; see gemm.ts).
 *
 * Summation order is the GEMM's: each output is a float32 sum over taps k in increasing order
 * (kh, then kw), from +0, then the bias, then the activation. So this path gives the very bits the
 * generic path gives (a test holds them equal); only the speed differs.
 */

/** Quads and channels per block. */
const QUADS: i32 = 4;
const CHANNELS: i32 = 2;

/**
 * Whether conv2dForward takes this path: single-channel input, unit stride along rows, and a channel
 * count the GEMM's lanes would not fill (measured: for 32 channels the GEMM is faster).
 */
// @ts-ignore: decorator
@inline export function firstLayerShape(inC: i32, sW: i32, outW: i32, outC: i32): bool {
  return inC == 1 && sW == 1 && outW >= 4 && outC >= CHANNELS && outC % 8 != 0;
}

/** Quads (4 pixels of a row) that cover an outH x outW output; a row's last quad may overlap. */
// @ts-ignore: decorator
@inline export function quadCount(outH: i32, outW: i32): i32 {
  return outH * ((outW + 3) >> 2);
}

/**
 * Fills `table` with two i32 per quad: its first pixel's window-origin byte offset in an input of
 * row width rowW (stride sH between output rows), and its first pixel's index in the output.
 */
export function fillQuadTable(table: usize, outH: i32, outW: i32, sH: i32, rowW: i32): void {
  let q = table;
  for (let oh = 0; oh < outH; oh++) {
    for (let ow0 = 0; ow0 < outW; ow0 += 4) {
      const ow = min(ow0, outW - 4);
      store<i32>(q, (oh * sH * rowW + ow) * 4);
      store<i32>(q, oh * outW + ow, 4);
      q += 8;
    }
  }
}

/**
 * y for one sample of a single-channel input `x` (row width rowW) through the quads of `table`, in
 * channel groups of CHANNELS (the last group overlaps the one before when outC is not a multiple:
 * overlapping channels and quads are recomputed with the same bits).
 */
export function firstLayerSample(
  x: usize, rowW: i32, table: usize, quads: i32, kH: i32, kW: i32,
  w: usize, bias: usize, y: usize, outC: i32, relu: bool,
): void {
  const rowStride = <usize>rowW * F32;
  const yStride = <usize>outC * F32;
  for (let c0 = 0; c0 < outC; c0 += CHANNELS) {
    const c = min(c0, outC - CHANNELS);
    const wc = w + <usize>c * F32;
    const bc: usize = bias == 0 ? 0 : bias + <usize>c * F32;
    let q = 0;
    for (; q + QUADS <= quads; q += QUADS) {
      const t = table + <usize>q * 8;
      quadBlock(
        x + <usize>load<i32>(t), x + <usize>load<i32>(t, 8), x + <usize>load<i32>(t, 16), x + <usize>load<i32>(t, 24), kH, kW, rowStride, wc, yStride,
        y + (<usize>load<i32>(t, 4) * <usize>outC + <usize>c) * F32,
        y + (<usize>load<i32>(t, 12) * <usize>outC + <usize>c) * F32,
        y + (<usize>load<i32>(t, 20) * <usize>outC + <usize>c) * F32,
        y + (<usize>load<i32>(t, 28) * <usize>outC + <usize>c) * F32,
        bc, relu,
      );
    }
    for (; q < quads; q++) {
      const t = table + <usize>q * 8;
      quadSingle(x + <usize>load<i32>(t), kH, kW, rowStride, wc, yStride, y + (<usize>load<i32>(t, 4) * <usize>outC + <usize>c) * F32, bc, relu);
    }
  }
}

/** 4 quads x 2 channels. */
function quadBlock(
  x0: usize, x1: usize, x2: usize, x3: usize, kH: i32, kW: i32, rowStride: usize, w: usize, wStride: usize,
  y0: usize, y1: usize, y2: usize, y3: usize, bias: usize, relu: bool,
): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
  let wk = w;
  for (let r = 0; r < kH; r++) {
    const ro = <usize>r * rowStride;
    let p0 = x0 + ro, p1 = x1 + ro, p2 = x2 + ro, p3 = x3 + ro;
    for (let t = 0; t < kW; t++) {
      const v0 = v128.load(p0), v1 = v128.load(p1), v2 = v128.load(p2), v3 = v128.load(p3);
      let s = v128.load32_splat(wk); a00 = madd(a00, v0, s); a01 = madd(a01, v1, s); a02 = madd(a02, v2, s); a03 = madd(a03, v3, s);
      s = v128.load32_splat(wk, 4); a10 = madd(a10, v0, s); a11 = madd(a11, v1, s); a12 = madd(a12, v2, s); a13 = madd(a13, v3, s);
      p0 += F32; p1 += F32; p2 += F32; p3 += F32;
      wk += wStride;
    }
  }
  storeQuad(y0, wStride, a00, a10, bias, relu);
  storeQuad(y1, wStride, a01, a11, bias, relu);
  storeQuad(y2, wStride, a02, a12, bias, relu);
  storeQuad(y3, wStride, a03, a13, bias, relu);
}

/** 1 quad x 2 channels. */
function quadSingle(
  x0: usize, kH: i32, kW: i32, rowStride: usize, w: usize, wStride: usize,
  y0: usize, bias: usize, relu: bool,
): void {
  let a00 = f32x4.splat(0);
  let a10 = f32x4.splat(0);
  let wk = w;
  for (let r = 0; r < kH; r++) {
    const ro = <usize>r * rowStride;
    let p0 = x0 + ro;
    for (let t = 0; t < kW; t++) {
      const v0 = v128.load(p0);
      let s = v128.load32_splat(wk); a00 = madd(a00, v0, s);
      s = v128.load32_splat(wk, 4); a10 = madd(a10, v0, s);
      p0 += F32;
      wk += wStride;
    }
  }
  storeQuad(y0, wStride, a00, a10, bias, relu);
}

/** Channels c..c+1 of four consecutive output pixels (pixel stride = the channel count). */
// @ts-ignore: decorator
@inline function storeQuad(y: usize, pixelStride: usize, c0: v128, c1: v128, bias: usize, relu: bool): void {
  if (bias != 0) {
    c0 = f32x4.add(c0, v128.load32_splat(bias));
    c1 = f32x4.add(c1, v128.load32_splat(bias, 4));
  }
  if (relu) {
    c0 = relu4(c0);
    c1 = relu4(c1);
  }
  storeLanes(y, pixelStride, c0);
  storeLanes(y + 4, pixelStride, c1);
}

// @ts-ignore: decorator
@inline function storeLanes(y: usize, stride: usize, v: v128): void {
  v128.store32_lane(y, v, 0);
  v128.store32_lane(y + stride, v, 1);
  v128.store32_lane(y + 2 * stride, v, 2);
  v128.store32_lane(y + 3 * stride, v, 3);
}

/*
 * The filter gradient of a single-channel input layer, pixels in lanes as above: per sample,
 * dyT[co][oh][0..W4) holds dy transposed with rows zero-padded to whole quads, and each block of
 * 4 taps x 2 channels accumulates x-quad * dy-quad products over the sample's quads in row order
 * (a row's last, partial quad loads only its real pixels). Each accumulator's four lanes are then
 * summed as (l0 + l1) + (l2 + l3) and stored (first sample) or added into dw. A fixed order, but not
 * the GEMM's: these bits differ from the generic path's (both are within rounding of the reference).
 */

/**
 * Whether conv2dBackwardFilter takes this path. Transposing dy costs about as much as 16 taps'
 * worth of this kernel's savings (measured: 11% faster for lenet5's 25 taps, slower for 4).
 */
// @ts-ignore: decorator
@inline export function firstLayerFilterShape(inC: i32, sW: i32, outW: i32, outC: i32, K: i32): bool {
  return firstLayerShape(inC, sW, outW, outC) && K >= 16;
}

/** Bytes of the transposed dy of one sample. */
// @ts-ignore: decorator
@inline export function transposedBytes(outH: i32, outW: i32, outC: i32): usize {
  return <usize>(outC * outH * (((outW + 3) >> 2) << 2)) * F32;
}

/** dyT[co][oh][ow] = dy[oh][ow][co], rows padded with zeros to a multiple of 4. */
function transposeSample(dy: usize, dyT: usize, outH: i32, outW: i32, outC: i32): void {
  const w4 = ((outW + 3) >> 2) << 2;
  const plane = <usize>(outH * w4) * F32;
  for (let oh = 0; oh < outH; oh++) {
    for (let ow = 0; ow < w4; ow++) {
      const dst = dyT + <usize>(oh * w4 + ow) * F32;
      if (ow < outW) {
        const src = dy + <usize>((oh * outW + ow) * outC) * F32;
        for (let c = 0; c < outC; c++) store<f32>(dst + <usize>c * plane, load<f32>(src + <usize>c * F32));
      } else {
        for (let c = 0; c < outC; c++) store<f32>(dst + <usize>c * plane, 0);
      }
    }
  }
}

/**
 * dw (+)= this sample's filter gradient for a single-channel input x (row width rowW, row stride
 * sH), taps at byte offsets `taps` (K of them), outC channels (>= CHANNELS). `dyT` is scratch for the
 * transposed gradient (transposedBytes).
 */
export function firstLayerFilterSample(
  x: usize, rowW: i32, sH: i32, taps: usize, K: i32, dy: usize, dyT: usize, outH: i32, outW: i32, outC: i32,
  dw: usize, accumulate: bool,
): void {
  transposeSample(dy, dyT, outH, outW, outC);
  const w4 = ((outW + 3) >> 2) << 2;
  const plane = <usize>(outH * w4) * F32;
  const xRowStep = <usize>(sH * rowW) * F32;
  for (let c0 = 0; c0 < outC; c0 += 2) {
    const c = min(c0, outC - 2);
    // An overlapping last group recomputes channel c; store its sums only once.
    const skipFirst = c != c0;
    for (let k = 0; k < K; k += 4) {
      const count = min(4, K - k);
      const t = taps + <usize>k * 4;
      filterQuads(
        x, <usize>load<i32>(t), tapAt(t, 1, count), tapAt(t, 2, count), tapAt(t, 3, count), count,
        outH, outW, xRowStep, dyT + <usize>c * plane, dyT + <usize>(c + 1) * plane, w4,
        dw + (<usize>k * <usize>outC + <usize>c) * F32, <usize>outC * F32, accumulate, skipFirst,
      );
    }
  }
}

// @ts-ignore: decorator
@inline function tapAt(t: usize, j: i32, count: i32): usize {
  return <usize>load<i32>(t + <usize>(j < count ? j : 0) * 4);
}

/** 4 taps x 2 channels over one sample's quads; see firstLayerFilterSample. */
function filterQuads(
  x: usize, o0: usize, o1: usize, o2: usize, o3: usize, taps: i32,
  outH: i32, outW: i32, xRowStep: usize, d0: usize, d1: usize, w4: i32,
  out: usize, outStride: usize, accumulate: bool, skipFirst: bool,
): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  const full = outW & ~3;
  const tail = outW - full;
  for (let oh = 0; oh < outH; oh++) {
    const xb = x + <usize>oh * xRowStep;
    let p0 = xb + o0, p1 = xb + o1, p2 = xb + o2, p3 = xb + o3;
    let e0 = d0 + <usize>(oh * w4) * F32, e1 = d1 + <usize>(oh * w4) * F32;
    for (let q = 0; q < full; q += 4) {
      const g0 = v128.load(e0), g1 = v128.load(e1);
      let v = v128.load(p0); a00 = madd(a00, v, g0); a01 = madd(a01, v, g1);
      v = v128.load(p1); a10 = madd(a10, v, g0); a11 = madd(a11, v, g1);
      v = v128.load(p2); a20 = madd(a20, v, g0); a21 = madd(a21, v, g1);
      v = v128.load(p3); a30 = madd(a30, v, g0); a31 = madd(a31, v, g1);
      p0 += 16; p1 += 16; p2 += 16; p3 += 16;
      e0 += 16; e1 += 16;
    }
    if (tail != 0) {
      const g0 = v128.load(e0), g1 = v128.load(e1);
      let v = loadPartial(p0, tail); a00 = madd(a00, v, g0); a01 = madd(a01, v, g1);
      v = loadPartial(p1, tail); a10 = madd(a10, v, g0); a11 = madd(a11, v, g1);
      v = loadPartial(p2, tail); a20 = madd(a20, v, g0); a21 = madd(a21, v, g1);
      v = loadPartial(p3, tail); a30 = madd(a30, v, g0); a31 = madd(a31, v, g1);
    }
  }
  storePair(out, a00, a01, accumulate, skipFirst);
  if (taps > 1) storePair(out + outStride, a10, a11, accumulate, skipFirst);
  if (taps > 2) storePair(out + 2 * outStride, a20, a21, accumulate, skipFirst);
  if (taps > 3) storePair(out + 3 * outStride, a30, a31, accumulate, skipFirst);
}

/** The lane sums (l0 + l1) + (l2 + l3) of two channels' accumulators, stored or added at out. */
// @ts-ignore: decorator
@inline function storePair(out: usize, a: v128, b: v128, accumulate: bool, skipFirst: bool): void {
  // [a0+a1, a2+a3, b0+b1, b2+b3], then [(a0+a1)+(a2+a3), (b0+b1)+(b2+b3)]
  const pairs = f32x4.add(v128.shuffle<f32>(a, b, 0, 2, 4, 6), v128.shuffle<f32>(a, b, 1, 3, 5, 7));
  let sums = f32x4.add(v128.shuffle<f32>(pairs, pairs, 0, 2, 0, 2), v128.shuffle<f32>(pairs, pairs, 1, 3, 1, 3));
  if (accumulate) sums = f32x4.add(v128.load64_zero(out), sums);
  if (skipFirst) v128.store32_lane(out, sums, 1, 4);
  else v128.store64_lane(out, sums, 0);
}
