import {
  NARROW, NARROW_ROWS, NARROW_TAPS, WIDE, WIDE_ROWS, WIDE_TAPS, filter2x16, filter2x16Contiguous, filter4x8, filter4x8Contiguous,
  gemm1x16, gemm1x8, gemm2x16, gemm4x8, packPanels, panelAt, readsInPlace, wideColumns,
} from './gemm';
import { fillQuadTable, firstLayerFilterSample, firstLayerFilterShape, firstLayerSample, firstLayerShape, quadCount, transposedBytes } from './conv1';
import { F32, alignLine, loadPartial, roundUp8, storePartial } from './simd';

/*
 * 2-D convolution over NHWC float32 activations with a Keras-layout kernel [kH][kW][inC][outC], as
 * the reference kernels in src/kernels/conv2d.ts define it. Window geometry follows TensorFlow (see
 * src/kernels/geometry.ts). Everything is done one sample at a time, so scratch does not grow with
 * the batch and a sample's working set stays in cache.
 *
 * Scratch (bytes, each region 64-byte aligned; src/kernels/wasm/kernels.ts mirrors these sizes):
 *   forward         panels K * roundUp8(outC) f32 + pixel table outH*outW i32 + padded sample (if padded)
 *   backward input  panels outC * roundUp8(kH*kW*inC) f32 + pixel table outH*outW i32 + window sums
 *                   outH*outW * kH*kW*inC f32 (none for a 1x1 stride-1 unpadded kernel: a dense layer)
 *   backward filter tap table K i32 + padded sample (if padded) + transposed dy sample (first layers)
 */

/** Rows (and columns) of the zero-padded copy a padded layer reads: exactly what its windows cover. */
// @ts-ignore: decorator
@inline function paddedExtent(out: i32, stride: i32, k: i32): i32 {
  return (out - 1) * stride + k;
}

// @ts-ignore: decorator
@inline function needsPadding(inH: i32, inW: i32, kH: i32, kW: i32, sH: i32, sW: i32, outH: i32, outW: i32, padTop: i32, padLeft: i32): bool {
  return padTop != 0 || padLeft != 0 || paddedExtent(outH, sH, kH) > inH || paddedExtent(outW, sW, kW) > inW;
}

/** Bytes of scratch conv2dForward needs. */
export function conv2dForwardScratch(inH: i32, inW: i32, inC: i32, kH: i32, kW: i32, sH: i32, sW: i32, outH: i32, outW: i32, padTop: i32, padLeft: i32, outC: i32): usize {
  let bytes = alignLine(<usize>(kH * kW * inC) * <usize>roundUp8(outC) * F32) + alignLine(<usize>(outH * outW) * 4);
  if (needsPadding(inH, inW, kH, kW, sH, sW, outH, outW, padTop, padLeft)) {
    bytes += alignLine(<usize>paddedExtent(outH, sH, kH) * <usize>paddedExtent(outW, sW, kW) * <usize>inC * F32);
  }
  return bytes;
}

/** Bytes of scratch conv2dBackwardInput needs. */
export function conv2dBackwardInputScratch(inH: i32, inW: i32, inC: i32, kH: i32, kW: i32, sH: i32, sW: i32, outH: i32, outW: i32, padTop: i32, padLeft: i32, outC: i32): usize {
  const N = kH * kW * inC;
  let bytes = alignLine(<usize>outC * <usize>roundUp8(N) * F32) + alignLine(<usize>(outH * outW) * 4);
  if (!isPointwise(kH, kW, sH, sW, padTop, padLeft)) bytes += alignLine(<usize>(outH * outW) * <usize>N * F32);
  return bytes;
}

/** Bytes of scratch conv2dBackwardFilter needs. */
export function conv2dBackwardFilterScratch(inH: i32, inW: i32, inC: i32, kH: i32, kW: i32, sH: i32, sW: i32, outH: i32, outW: i32, padTop: i32, padLeft: i32, outC: i32): usize {
  let bytes = alignLine(<usize>(kH * kW * inC) * 4);
  if (needsPadding(inH, inW, kH, kW, sH, sW, outH, outW, padTop, padLeft)) {
    bytes += alignLine(<usize>paddedExtent(outH, sH, kH) * <usize>paddedExtent(outW, sW, kW) * <usize>inC * F32);
  }
  if (firstLayerFilterShape(inC, sW, outW, outC, kH * kW * inC)) bytes += alignLine(transposedBytes(outH, outW, outC));
  return bytes;
}

// @ts-ignore: decorator
@inline function isPointwise(kH: i32, kW: i32, sH: i32, sW: i32, padTop: i32, padLeft: i32): bool {
  return kH == 1 && kW == 1 && sH == 1 && sW == 1 && padTop == 0 && padLeft == 0;
}

/**
 * Copies sample `x` (inH x inW x C) into the zero border of a padded buffer of hp x wp x C whose
 * border was zeroed once: rows/columns that no window reaches are dropped.
 */
function copyPadded(x: usize, inH: i32, inW: i32, c: i32, padTop: i32, padLeft: i32, dst: usize, hp: i32, wp: i32): void {
  const rowFloats = min(inW, wp - padLeft) * c;
  if (rowFloats <= 0) return;
  for (let ih = 0; ih < inH; ih++) {
    const r = ih + padTop;
    if (r >= hp) break;
    memory.copy(dst + (<usize>(r * wp + padLeft) * <usize>c) * F32, x + <usize>(ih * inW * c) * F32, <usize>rowFloats * F32);
  }
}

/**
 * out[p, :] over the P pixels of one sample and every column block: the shared driver of the
 * forward and backward-input GEMMs. `table[p]` is pixel p's byte offset from `x`. The weights are
 * read in place from the row-major [K][N] matrix `w` where a column block allows (readsInPlace),
 * else from the panels packPanels wrote.
 */
function gemmSample(
  x: usize, table: usize, pixels: i32, runs: i32, runLen: i32, runStride: usize,
  w: usize, transposed: bool, panels: usize, K: i32, N: i32, out: usize, bias: usize, relu: bool,
): void {
  const outStride = <usize>N * F32;
  const wide = wideColumns(N);
  for (let cb = 0; cb < wide; cb += WIDE) {
    const inPlace = readsInPlace(N, cb, transposed);
    const panel = inPlace ? w + <usize>cb * F32 : panelAt(panels, K, N, cb);
    const panelStride: usize = inPlace ? outStride : <usize>WIDE * F32;
    const o = out + <usize>cb * F32;
    const b: usize = bias == 0 ? 0 : bias + <usize>cb * F32;
    const blocked = pixels - pixels % WIDE_ROWS;
    gemm2x16(x, table, blocked, runs, runLen, runStride, panel, panelStride, o, outStride, b, relu);
    if (blocked < pixels) gemm1x16(x, table + <usize>blocked * 4, pixels - blocked, runs, runLen, runStride, panel, panelStride, o + <usize>blocked * outStride, outStride, b, relu);
  }
  for (let cb = wide; cb < N; cb += NARROW) {
    const cols = min(NARROW, N - cb);
    const inPlace = readsInPlace(N, cb, transposed);
    const panel = inPlace ? w + <usize>cb * F32 : panelAt(panels, K, N, cb);
    const panelStride: usize = inPlace ? outStride : <usize>NARROW * F32;
    const o = out + <usize>cb * F32;
    const b: usize = bias == 0 ? 0 : bias + <usize>cb * F32;
    const blocked = pixels - pixels % NARROW_ROWS;
    gemm4x8(x, table, blocked, runs, runLen, runStride, panel, panelStride, o, outStride, cols, b, relu);
    if (blocked < pixels) gemm1x8(x, table + <usize>blocked * 4, pixels - blocked, runs, runLen, runStride, panel, panelStride, o + <usize>blocked * outStride, outStride, cols, b, relu);
  }
}

/** Byte offsets of each output pixel's window origin in an input of row width `rowW` pixels. */
function fillPixelTable(table: usize, outH: i32, outW: i32, sH: i32, sW: i32, rowW: i32, c: i32): void {
  for (let oh = 0; oh < outH; oh++) {
    for (let ow = 0; ow < outW; ow++) {
      store<i32>(table + <usize>(oh * outW + ow) * 4, (oh * sH * rowW + ow * sW) * c * 4);
    }
  }
}

/** y = act(conv(x, w) + bias) for n samples; bias 0 = none; relu fuses the activation. */
export function conv2dForward(
  x: usize, w: usize, bias: usize, y: usize, scratch: usize, n: i32,
  inH: i32, inW: i32, inC: i32, kH: i32, kW: i32, sH: i32, sW: i32, outH: i32, outW: i32, padTop: i32, padLeft: i32,
  outC: i32, relu: bool,
): void {
  const K = kH * kW * inC;
  const panels = scratch;
  const table = panels + alignLine(<usize>K * <usize>roundUp8(outC) * F32);
  const padded = table + alignLine(<usize>(outH * outW) * 4);
  if (!firstLayerShape(inC, sW, outW, outC)) packPanels(w, K, outC, false, panels);
  const pad = needsPadding(inH, inW, kH, kW, sH, sW, outH, outW, padTop, padLeft);
  const hp = paddedExtent(outH, sH, kH), wp = paddedExtent(outW, sW, kW);
  const rowW = pad ? wp : inW;
  if (pad) memory.fill(padded, 0, <usize>hp * <usize>wp * <usize>inC * F32);
  // The pixel table's room also holds the quad table (2 words per 4 pixels).
  const firstLayer = firstLayerShape(inC, sW, outW, outC);
  if (firstLayer) fillQuadTable(table, outH, outW, sH, rowW);
  else fillPixelTable(table, outH, outW, sH, sW, rowW, inC);
  const inBytes = <usize>(inH * inW * inC) * F32;
  const outBytes = <usize>(outH * outW * outC) * F32;
  for (let s = 0; s < n; s++) {
    let xs = x + <usize>s * inBytes;
    if (pad) {
      copyPadded(xs, inH, inW, inC, padTop, padLeft, padded, hp, wp);
      xs = padded;
    }
    if (firstLayer) {
      firstLayerSample(xs, rowW, table, quadCount(outH, outW), kH, kW, w, bias, y + <usize>s * outBytes, outC, relu);
      continue;
    }
    gemmSample(xs, table, outH * outW, kH, kW * inC, <usize>(rowW * inC) * F32, w, false, panels, K, outC, y + <usize>s * outBytes, bias, relu);
  }
}

/**
 * dx = the gradient of conv2dForward with respect to x, as a GEMM then a scatter: per sample,
 * cols[p, (kh, kw, ci)] = sum over co (in order) of dy[p, co] * w[kh, kw, ci, co], then each
 * window's cols are added into dx (windows in pixel order, taps in kernel order). No product with
 * padding is computed, unlike a correlation of zero-padded dy with the rotated kernel.
 */
export function conv2dBackwardInput(
  dy: usize, w: usize, dx: usize, scratch: usize, n: i32,
  inH: i32, inW: i32, inC: i32, kH: i32, kW: i32, sH: i32, sW: i32, outH: i32, outW: i32, padTop: i32, padLeft: i32,
  outC: i32,
): void {
  const N = kH * kW * inC;
  const P = outH * outW;
  const panels = scratch;
  const table = panels + alignLine(<usize>outC * <usize>roundUp8(N) * F32);
  const cols = table + alignLine(<usize>P * 4);
  packPanels(w, outC, N, true, panels);
  fillPixelTable(table, outH, outW, 1, 1, outW, outC);
  const pointwise = isPointwise(kH, kW, sH, sW, padTop, padLeft);
  const dyBytes = <usize>(P * outC) * F32;
  const dxBytes = <usize>(inH * inW * inC) * F32;
  for (let s = 0; s < n; s++) {
    const dxs = dx + <usize>s * dxBytes;
    // A pointwise kernel's cols are dx itself.
    gemmSample(dy + <usize>s * dyBytes, table, P, 1, outC, 0, w, true, panels, outC, N, pointwise ? dxs : cols, 0, false);
    if (!pointwise) scatterWindows(cols, dxs, inH, inW, inC, kH, kW, sH, sW, outH, outW, padTop, padLeft);
  }
}

/**
 * dx = 0, then dx[window of p] += cols[p] for each output pixel p in order (col2im): a kernel row's
 * taps land on consecutive pixels of one dx row, so each (p, kh) is one contiguous add.
 */
function scatterWindows(cols: usize, dx: usize, inH: i32, inW: i32, inC: i32, kH: i32, kW: i32, sH: i32, sW: i32, outH: i32, outW: i32, padTop: i32, padLeft: i32): void {
  memory.fill(dx, 0, <usize>(inH * inW * inC) * F32);
  const tapFloats = kW * inC;
  let src = cols;
  for (let oh = 0; oh < outH; oh++) {
    for (let ow = 0; ow < outW; ow++) {
      const iw0 = ow * sW - padLeft;
      const kw0 = max(0, -iw0), kw1 = min(kW, inW - iw0);
      for (let kh = 0; kh < kH; kh++) {
        const ih = oh * sH - padTop + kh;
        if (ih < 0 || ih >= inH || kw0 >= kw1) continue;
        addFloats(dx + <usize>((ih * inW + iw0 + kw0) * inC) * F32, src + <usize>((kh * kW + kw0) * inC) * F32, (kw1 - kw0) * inC);
      }
      src += <usize>(kH * tapFloats) * F32;
    }
  }
}

/** a[0..count) += b[0..count), rounded to float32 after each add. */
// @ts-ignore: decorator
@inline function addFloats(a: usize, b: usize, count: i32): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const o = <usize>i * F32;
    v128.store(a + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  if (i < count) {
    const o = <usize>i * F32;
    const m = count - i;
    storePartial(a + o, f32x4.add(loadPartial(a + o, m), loadPartial(b + o, m)), m);
  }
}

/**
 * dw[kh, kw, ci, co] = sum over samples (in order) of the sample's sum over output pixels (in
 * order) of x[...] * dy[...]; dbias[co] likewise of dy. Overwrites dw and dbias (0 = none).
 */
export function conv2dBackwardFilter(
  x: usize, dy: usize, dw: usize, dbias: usize, scratch: usize, n: i32,
  inH: i32, inW: i32, inC: i32, kH: i32, kW: i32, sH: i32, sW: i32, outH: i32, outW: i32, padTop: i32, padLeft: i32,
  outC: i32,
): void {
  const K = kH * kW * inC;
  const taps = scratch;
  const padded = taps + alignLine(<usize>K * 4);
  const pad = needsPadding(inH, inW, kH, kW, sH, sW, outH, outW, padTop, padLeft);
  const hp = paddedExtent(outH, sH, kH), wp = paddedExtent(outW, sW, kW);
  const firstLayer = firstLayerFilterShape(inC, sW, outW, outC, K);
  const dyT = padded + (pad ? alignLine(<usize>hp * <usize>wp * <usize>inC * F32) : 0);
  const rowW = pad ? wp : inW;
  if (pad) memory.fill(padded, 0, <usize>hp * <usize>wp * <usize>inC * F32);
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      for (let ci = 0; ci < inC; ci++) store<i32>(taps + <usize>((kh * kW + kw) * inC + ci) * 4, ((kh * rowW + kw) * inC + ci) * 4);
    }
  }
  // A one-column output (a dense layer's rows) walks as one row of outH pixels instead: the same
  // pixels in the same order, but the kernels' unrolled inner loop runs.
  const oneColumn = outW == 1;
  const pixRows = oneColumn ? 1 : outH, pixCols = oneColumn ? outH : outW;
  const xRowStep = oneColumn ? 0 : <usize>(sH * rowW * inC) * F32;
  const xColStep = oneColumn ? <usize>(sH * rowW * inC) * F32 : <usize>(sW * inC) * F32;
  const dStride = <usize>outC * F32;
  const inBytes = <usize>(inH * inW * inC) * F32;
  const dyBytes = <usize>(outH * outW * outC) * F32;
  for (let s = 0; s < n; s++) {
    let xs = x + <usize>s * inBytes;
    if (pad) {
      copyPadded(xs, inH, inW, inC, padTop, padLeft, padded, hp, wp);
      xs = padded;
    }
    const ds = dy + <usize>s * dyBytes;
    const accumulate = s > 0;
    if (firstLayer) {
      firstLayerFilterSample(xs, rowW, sH, taps, K, ds, dyT, outH, outW, outC, dw, accumulate);
      if (dbias != 0) biasGradSample(ds, outH * outW, outC, dbias, accumulate);
      continue;
    }
    const wide = wideColumns(outC);
    for (let cb = 0; cb < outC; cb += cb < wide ? WIDE : NARROW) {
      const isWide = cb < wide;
      const cols = min(NARROW, outC - cb);
      const d = ds + <usize>cb * F32;
      const out = dw + <usize>cb * F32;
      const block = isWide ? WIDE_TAPS : NARROW_TAPS;
      for (let k = 0; k < K; k += block) {
        const t = taps + <usize>k * 4;
        const count = min(block, K - k);
        const o0 = load<i32>(t);
        const o = out + <usize>k * dStride;
        // Tap offsets increase by at least 4 bytes each, so o_last = o0 + 4 (taps - 1) means consecutive floats.
        const contiguous = count == block && load<i32>(t + <usize>(block - 1) * 4) == o0 + (block - 1) * 4;
        if (isWide) {
          if (contiguous) filter2x16Contiguous(xs + <usize>o0, pixRows, pixCols, xRowStep, xColStep, d, dStride, o, dStride, accumulate);
          else filter2x16(xs, <usize>o0, tapOffset(t, 1, count), count, pixRows, pixCols, xRowStep, xColStep, d, dStride, o, dStride, accumulate);
        } else if (contiguous) {
          filter4x8Contiguous(xs + <usize>o0, pixRows, pixCols, xRowStep, xColStep, d, dStride, cols, o, dStride, accumulate);
        } else {
          filter4x8(
            xs, <usize>o0, tapOffset(t, 1, count), tapOffset(t, 2, count), tapOffset(t, 3, count), count,
            pixRows, pixCols, xRowStep, xColStep, d, dStride, cols, o, dStride, accumulate,
          );
        }
      }
    }
    if (dbias != 0) biasGradSample(ds, outH * outW, outC, dbias, accumulate);
  }
}

/** Tap j of a block of `count` at `t`, or tap 0 for a position past the block's end. */
// @ts-ignore: decorator
@inline function tapOffset(t: usize, j: i32, count: i32): usize {
  return <usize>load<i32>(t + <usize>(j < count ? j : 0) * 4);
}

/** dbias (+)= the sum over one sample's pixels, in pixel order, of dy[p, :]. */
function biasGradSample(dy: usize, pixels: i32, c: i32, dbias: usize, accumulate: bool): void {
  const stride = <usize>c * F32;
  for (let cb = 0; cb < c; cb += 4) {
    const m = min(4, c - cb);
    let acc = f32x4.splat(0);
    let d = dy + <usize>cb * F32;
    if (m == 4) {
      for (let p = 0; p < pixels; p++) {
        acc = f32x4.add(acc, v128.load(d));
        d += stride;
      }
    } else {
      for (let p = 0; p < pixels; p++) {
        acc = f32x4.add(acc, loadPartial(d, m));
        d += stride;
      }
    }
    const out = dbias + <usize>cb * F32;
    if (accumulate) acc = f32x4.add(loadPartial(out, m), acc);
    storePartial(out, acc, m);
  }
}
