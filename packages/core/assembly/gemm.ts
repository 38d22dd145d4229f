import { F32, loadPartial, madd, relu4, storePartial } from './simd';

/*
 * The register-blocked micro-kernels every convolution and dense kernel is built from: an implicit
 * GEMM, where the "A" operand is read straight from an NHWC activation through per-row base offsets
 * (no im2col copy), and the output-channel axis lies in SIMD lanes: wide column blocks of 16 lanes
 * (four f32x4) where the column count allows, narrow ones of 8 (two f32x4) for the rest.
 *
 * Block shapes were chosen by measuring V8's code (node --print-wasm-code): with eight accumulators
 * and no unrolling the inner loop keeps everything in registers (~40 GFLOP/s on a Zen 4 core);
 * ten or twelve accumulators, or an unrolled body whose loads V8 hoists, spill to the stack and run
 * at 25-30 GFLOP/s. Hence 2 rows x 16 lanes and 4 rows x 8 lanes.
 *
 * The reduction axis k walks `runs` runs of `runLen` consecutive floats; run r starts `runStride`
 * bytes after run r - 1 in X, and the panel's rows follow one another. For a convolution a run is
 * one kernel row: kW * inC floats, contiguous in NHWC whatever the stride; for a dense layer (and the
 * backward-input GEMM) it is the whole input row.
 *
 * Summation order (the determinism contract): each output is accumulated in float32 over k in
 * increasing order, starting from +0, one product (rounded) then one add (rounded) per k, and only
 * then is the bias added. Every block shape follows the same order, so an output's bits do not
 * depend on which kernel computed it, on where its row falls in a block, or on the batch size: they
 * are a pure function of that row's inputs and the weights. The filter-gradient kernels likewise sum
 * over pixels in increasing order, per sample.
 */

/** Lanes of a narrow column block (two f32x4) and of a wide one (four). */
export const NARROW: i32 = 8;
export const WIDE: i32 = 16;
/** Output rows per block: 4 with narrow columns, 2 with wide ones (8 accumulators either way). */
export const NARROW_ROWS: i32 = 4;
export const WIDE_ROWS: i32 = 2;


/**
 * Output rows [0, rows) (a multiple of 4) in blocks of 4 rows x 8 lanes: out[i, 0..cols) =
 * act(bias + sum_k X[x + table[i] + off(k)] * panel[k, :]), row k of the column block's weights at
 * panel + k * panelStride (zero lanes past the valid columns). Looping over the blocks here
 * rather than in the caller saves a call per block, which matters for short reductions.
 */
export function gemm4x8(
  x: usize, table: usize, rows: i32,
  runs: i32, runLen: i32, runStride: usize, panel: usize, panelStride: usize,
  out: usize, outStride: usize, cols: i32, bias: usize, relu: bool,
): void {
  for (let i = 0; i < rows; i += 4) {
    const t = table + <usize>i * 4;
    const p0 = x + <usize>load<i32>(t), p1 = x + <usize>load<i32>(t, 4), p2 = x + <usize>load<i32>(t, 8), p3 = x + <usize>load<i32>(t, 12);
    let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
    let a10 = f32x4.splat(0), a11 = f32x4.splat(0);
    let a20 = f32x4.splat(0), a21 = f32x4.splat(0);
    let a30 = f32x4.splat(0), a31 = f32x4.splat(0);
    let w = panel;
    for (let r = 0; r < runs; r++) {
      const ro = <usize>r * runStride;
      let q0 = p0 + ro, q1 = p1 + ro, q2 = p2 + ro, q3 = p3 + ro;
      for (let k = 0; k < runLen; k++) {
        const w0 = v128.load(w), w1 = v128.load(w, 16);
        let v = v128.load32_splat(q0); a00 = madd(a00, v, w0); a01 = madd(a01, v, w1);
        v = v128.load32_splat(q1); a10 = madd(a10, v, w0); a11 = madd(a11, v, w1);
        v = v128.load32_splat(q2); a20 = madd(a20, v, w0); a21 = madd(a21, v, w1);
        v = v128.load32_splat(q3); a30 = madd(a30, v, w0); a31 = madd(a31, v, w1);
        q0 += F32; q1 += F32; q2 += F32; q3 += F32;
        w += panelStride;
      }
    }
    const o = out + <usize>i * outStride;
    storeRow8(o, a00, a01, cols, bias, relu);
    storeRow8(o + outStride, a10, a11, cols, bias, relu);
    storeRow8(o + 2 * outStride, a20, a21, cols, bias, relu);
    storeRow8(o + 3 * outStride, a30, a31, cols, bias, relu);
  }
}

/**
 * Output rows [0, rows) (a multiple of 1) in blocks of 1 rows x 8 lanes: out[i, 0..cols) =
 * act(bias + sum_k X[x + table[i] + off(k)] * panel[k, :]), row k of the column block's weights at
 * panel + k * panelStride (zero lanes past the valid columns). Looping over the blocks here
 * rather than in the caller saves a call per block, which matters for short reductions.
 */
export function gemm1x8(
  x: usize, table: usize, rows: i32,
  runs: i32, runLen: i32, runStride: usize, panel: usize, panelStride: usize,
  out: usize, outStride: usize, cols: i32, bias: usize, relu: bool,
): void {
  for (let i = 0; i < rows; i += 1) {
    const t = table + <usize>i * 4;
    const p0 = x + <usize>load<i32>(t);
    let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
    let w = panel;
    for (let r = 0; r < runs; r++) {
      const ro = <usize>r * runStride;
      let q0 = p0 + ro;
      for (let k = 0; k < runLen; k++) {
        const w0 = v128.load(w), w1 = v128.load(w, 16);
        let v = v128.load32_splat(q0); a00 = madd(a00, v, w0); a01 = madd(a01, v, w1);
        q0 += F32;
        w += panelStride;
      }
    }
    const o = out + <usize>i * outStride;
    storeRow8(o, a00, a01, cols, bias, relu);
  }
}

/**
 * Output rows [0, rows) (a multiple of 2) in blocks of 2 rows x 16 lanes: out[i, 0..16) =
 * act(bias + sum_k X[x + table[i] + off(k)] * panel[k, :]), row k of the column block's weights at
 * panel + k * panelStride. Looping over the blocks here
 * rather than in the caller saves a call per block, which matters for short reductions.
 */
export function gemm2x16(
  x: usize, table: usize, rows: i32,
  runs: i32, runLen: i32, runStride: usize, panel: usize, panelStride: usize,
  out: usize, outStride: usize, bias: usize, relu: bool,
): void {
  for (let i = 0; i < rows; i += 2) {
    const t = table + <usize>i * 4;
    const p0 = x + <usize>load<i32>(t), p1 = x + <usize>load<i32>(t, 4);
    let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
    let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
    let w = panel;
    for (let r = 0; r < runs; r++) {
      const ro = <usize>r * runStride;
      let q0 = p0 + ro, q1 = p1 + ro;
      for (let k = 0; k < runLen; k++) {
        const w0 = v128.load(w), w1 = v128.load(w, 16), w2 = v128.load(w, 32), w3 = v128.load(w, 48);
        let v = v128.load32_splat(q0); a00 = madd(a00, v, w0); a01 = madd(a01, v, w1); a02 = madd(a02, v, w2); a03 = madd(a03, v, w3);
        v = v128.load32_splat(q1); a10 = madd(a10, v, w0); a11 = madd(a11, v, w1); a12 = madd(a12, v, w2); a13 = madd(a13, v, w3);
        q0 += F32; q1 += F32;
        w += panelStride;
      }
    }
    const o = out + <usize>i * outStride;
    storeRow16(o, a00, a01, a02, a03, bias, relu);
    storeRow16(o + outStride, a10, a11, a12, a13, bias, relu);
  }
}

/**
 * Output rows [0, rows) (a multiple of 1) in blocks of 1 rows x 16 lanes: out[i, 0..16) =
 * act(bias + sum_k X[x + table[i] + off(k)] * panel[k, :]), row k of the column block's weights at
 * panel + k * panelStride. Looping over the blocks here
 * rather than in the caller saves a call per block, which matters for short reductions.
 */
export function gemm1x16(
  x: usize, table: usize, rows: i32,
  runs: i32, runLen: i32, runStride: usize, panel: usize, panelStride: usize,
  out: usize, outStride: usize, bias: usize, relu: bool,
): void {
  for (let i = 0; i < rows; i += 1) {
    const t = table + <usize>i * 4;
    const p0 = x + <usize>load<i32>(t);
    let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
    let w = panel;
    for (let r = 0; r < runs; r++) {
      const ro = <usize>r * runStride;
      let q0 = p0 + ro;
      for (let k = 0; k < runLen; k++) {
        const w0 = v128.load(w), w1 = v128.load(w, 16), w2 = v128.load(w, 32), w3 = v128.load(w, 48);
        let v = v128.load32_splat(q0); a00 = madd(a00, v, w0); a01 = madd(a01, v, w1); a02 = madd(a02, v, w2); a03 = madd(a03, v, w3);
        q0 += F32;
        w += panelStride;
      }
    }
    const o = out + <usize>i * outStride;
    storeRow16(o, a00, a01, a02, a03, bias, relu);
  }
}

// @ts-ignore: decorator
@inline function storeRow8(out: usize, a0: v128, a1: v128, cols: i32, bias: usize, relu: bool): void {
  if (bias != 0) {
    a0 = f32x4.add(a0, loadPartial(bias, cols));
    a1 = f32x4.add(a1, loadPartial(bias + 16, cols - 4));
  }
  if (relu) {
    a0 = relu4(a0);
    a1 = relu4(a1);
  }
  if (cols >= NARROW) {
    v128.store(out, a0);
    v128.store(out, a1, 16);
  } else {
    storePartial(out, a0, cols);
    storePartial(out + 16, a1, cols - 4);
  }
}

// @ts-ignore: decorator
@inline function storeRow16(out: usize, a0: v128, a1: v128, a2: v128, a3: v128, bias: usize, relu: bool): void {
  if (bias != 0) {
    a0 = f32x4.add(a0, v128.load(bias));
    a1 = f32x4.add(a1, v128.load(bias, 16));
    a2 = f32x4.add(a2, v128.load(bias, 32));
    a3 = f32x4.add(a3, v128.load(bias, 48));
  }
  if (relu) {
    a0 = relu4(a0);
    a1 = relu4(a1);
    a2 = relu4(a2);
    a3 = relu4(a3);
  }
  v128.store(out, a0);
  v128.store(out, a1, 16);
  v128.store(out, a2, 32);
  v128.store(out, a3, 48);
}

/** Columns [0, wideColumns(N)) go in wide blocks, the rest in narrow ones. */
// @ts-ignore: decorator
@inline export function wideColumns(N: i32): i32 {
  return N & ~(WIDE - 1);
}

/** Where column block `cb` (its first column) starts in panels of K rows over N columns. */
// @ts-ignore: decorator
@inline export function panelAt(panels: usize, K: i32, N: i32, cb: i32): usize {
  const wide = wideColumns(N);
  return cb < wide
    ? panels + <usize>(cb / WIDE) * <usize>K * <usize>(WIDE * 4)
    : panels + <usize>(wide / WIDE) * <usize>K * <usize>(WIDE * 4) + <usize>((cb - wide) / NARROW) * <usize>K * <usize>(NARROW * 4);
}

/**
 * Whether column block `cb` of a row-major [K][N] weight matrix can be read in place (its rows are
 * 16 or 8 valid consecutive floats at a stride of N floats) rather than from a packed panel.
 */
// @ts-ignore: decorator
@inline export function readsInPlace(N: i32, cb: i32, transposed: bool): bool {
  return !transposed && cb + NARROW <= N;
}

/**
 * Packs the column blocks that cannot be read in place into panels at `dst` (the layout of
 * panelAt: wide blocks [K][16] for the first wideColumns(N) columns, then narrow blocks [K][8],
 * zero-padded past N; K * roundUp8(N) floats). The weights are a row-major [K][N] matrix or, with
 * `transposed`, the transpose of a row-major [N][K] one (the backward-input operand), which is
 * packed by 4 x 4 transposes where whole tiles fit.
 */
export function packPanels(w: usize, K: i32, N: i32, transposed: bool, dst: usize): void {
  const wide = wideColumns(N);
  for (let cb = 0; cb < N; ) {
    const width = cb < wide ? WIDE : NARROW;
    if (!readsInPlace(N, cb, transposed)) {
      const panel = panelAt(dst, K, N, cb);
      const rowBytes = <usize>width * F32;
      let k = 0;
      if (transposed && cb + width <= N) {
        // w[n][k] for n in the block: 4 x 4 tiles of (n, k) become (k, n).
        for (; k + 4 <= K; k += 4) {
          for (let l = 0; l < width; l += 4) {
            const src = w + (<usize>(cb + l) * <usize>K + <usize>k) * F32;
            const stride = <usize>K * F32;
            const r0 = v128.load(src), r1 = v128.load(src + stride), r2 = v128.load(src + 2 * stride), r3 = v128.load(src + 3 * stride);
            const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
            const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
            const out = panel + <usize>k * rowBytes + <usize>l * F32;
            v128.store(out, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
            v128.store(out + rowBytes, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
            v128.store(out + 2 * rowBytes, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
            v128.store(out + 3 * rowBytes, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
          }
        }
      }
      for (; k < K; k++) {
        for (let l = 0; l < width; l++) {
          const c = cb + l;
          let v: f32 = 0;
          if (c < N) v = load<f32>(w + (transposed ? <usize>c * <usize>K + <usize>k : <usize>k * <usize>N + <usize>c) * F32);
          store<f32>(panel + <usize>k * rowBytes + <usize>l * F32, v);
        }
      }
    }
    cb += width;
  }
}

/** Filter-gradient taps per block: 4 with narrow columns, 2 with wide ones. */
export const NARROW_TAPS: i32 = 4;
export const WIDE_TAPS: i32 = 2;

/**
 * Filter-gradient micro-kernel, 4 taps x 8 lanes: accumulates over the pixels of one sample,
 * in increasing pixel order, acc[j, :] = sum_p X[base_p + o_j] * D[p, :], then stores the sums
 * (first sample) or adds them (later samples) at out + j * outStride
 * (only the first `taps`: a block at the end of K may be short; its unused offsets repeat o0).
 * Pixel (i, c) of the pixRows x pixCols walk has base x + i * xRowStep + c * xColStep; D advances by
 * dStride per pixel.
 */
export function filter4x8(
  x: usize, o0: usize, o1: usize, o2: usize, o3: usize, taps: i32, pixRows: i32, pixCols: i32, xRowStep: usize, xColStep: usize,
  d: usize, dStride: usize, cols: i32, out: usize, outStride: usize, accumulate: bool,
): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0);
  let a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  const full = cols >= NARROW;
  for (let i = 0; i < pixRows; i++) {
    let xb = x + <usize>i * xRowStep;
    for (let c = 0; c < pixCols; c++) {
      const d0 = full ? v128.load(d) : loadPartial(d, cols);
      const d1 = full ? v128.load(d, 16) : loadPartial(d + 16, cols - 4);
      let v = v128.load32_splat(xb + o0); a00 = madd(a00, v, d0); a01 = madd(a01, v, d1);
      v = v128.load32_splat(xb + o1); a10 = madd(a10, v, d0); a11 = madd(a11, v, d1);
      v = v128.load32_splat(xb + o2); a20 = madd(a20, v, d0); a21 = madd(a21, v, d1);
      v = v128.load32_splat(xb + o3); a30 = madd(a30, v, d0); a31 = madd(a31, v, d1);
      xb += xColStep;
      d += dStride;
    }
  }
  storeSum8(out, a00, a01, cols, accumulate);
  if (taps > 1) storeSum8(out + outStride, a10, a11, cols, accumulate);
  if (taps > 2) storeSum8(out + 2 * outStride, a20, a21, cols, accumulate);
  if (taps > 3) storeSum8(out + 3 * outStride, a30, a31, cols, accumulate);
}

/**
 * Filter-gradient micro-kernel, 4 taps x 8 lanes: accumulates over the pixels of one sample,
 * in increasing pixel order, acc[j, :] = sum_p X[base_p + o_j] * D[p, :], then stores the sums
 * (first sample) or adds them (later samples) at out + j * outStride.
 * Pixel (i, c) of the pixRows x pixCols walk has base x + i * xRowStep + c * xColStep; D advances by
 * dStride per pixel. Here the taps are consecutive floats from x: static offsets.
 */
export function filter4x8Contiguous(
  x: usize, pixRows: i32, pixCols: i32, xRowStep: usize, xColStep: usize,
  d: usize, dStride: usize, cols: i32, out: usize, outStride: usize, accumulate: bool,
): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0);
  let a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  const full = cols >= NARROW;
  for (let i = 0; i < pixRows; i++) {
    let xb = x + <usize>i * xRowStep;
    for (let c = 0; c < pixCols; c++) {
      const d0 = full ? v128.load(d) : loadPartial(d, cols);
      const d1 = full ? v128.load(d, 16) : loadPartial(d + 16, cols - 4);
      let v = v128.load32_splat(xb); a00 = madd(a00, v, d0); a01 = madd(a01, v, d1);
      v = v128.load32_splat(xb, 4); a10 = madd(a10, v, d0); a11 = madd(a11, v, d1);
      v = v128.load32_splat(xb, 8); a20 = madd(a20, v, d0); a21 = madd(a21, v, d1);
      v = v128.load32_splat(xb, 12); a30 = madd(a30, v, d0); a31 = madd(a31, v, d1);
      xb += xColStep;
      d += dStride;
    }
  }
  storeSum8(out, a00, a01, cols, accumulate);
  storeSum8(out + outStride, a10, a11, cols, accumulate);
  storeSum8(out + 2 * outStride, a20, a21, cols, accumulate);
  storeSum8(out + 3 * outStride, a30, a31, cols, accumulate);
}

/**
 * Filter-gradient micro-kernel, 2 taps x 16 lanes: accumulates over the pixels of one sample,
 * in increasing pixel order, acc[j, :] = sum_p X[base_p + o_j] * D[p, :], then stores the sums
 * (first sample) or adds them (later samples) at out + j * outStride
 * (only the first `taps`: a block at the end of K may be short; its unused offsets repeat o0).
 * Pixel (i, c) of the pixRows x pixCols walk has base x + i * xRowStep + c * xColStep; D advances by
 * dStride per pixel.
 */
export function filter2x16(
  x: usize, o0: usize, o1: usize, taps: i32, pixRows: i32, pixCols: i32, xRowStep: usize, xColStep: usize,
  d: usize, dStride: usize, out: usize, outStride: usize, accumulate: bool,
): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
  for (let i = 0; i < pixRows; i++) {
    let xb = x + <usize>i * xRowStep;
    for (let c = 0; c < pixCols; c++) {
      const d0 = v128.load(d), d1 = v128.load(d, 16), d2 = v128.load(d, 32), d3 = v128.load(d, 48);
      let v = v128.load32_splat(xb + o0); a00 = madd(a00, v, d0); a01 = madd(a01, v, d1); a02 = madd(a02, v, d2); a03 = madd(a03, v, d3);
      v = v128.load32_splat(xb + o1); a10 = madd(a10, v, d0); a11 = madd(a11, v, d1); a12 = madd(a12, v, d2); a13 = madd(a13, v, d3);
      xb += xColStep;
      d += dStride;
    }
  }
  storeSum16(out, a00, a01, a02, a03, accumulate);
  if (taps > 1) storeSum16(out + outStride, a10, a11, a12, a13, accumulate);
}

/**
 * Filter-gradient micro-kernel, 2 taps x 16 lanes: accumulates over the pixels of one sample,
 * in increasing pixel order, acc[j, :] = sum_p X[base_p + o_j] * D[p, :], then stores the sums
 * (first sample) or adds them (later samples) at out + j * outStride.
 * Pixel (i, c) of the pixRows x pixCols walk has base x + i * xRowStep + c * xColStep; D advances by
 * dStride per pixel. Here the taps are consecutive floats from x: static offsets.
 */
export function filter2x16Contiguous(
  x: usize, pixRows: i32, pixCols: i32, xRowStep: usize, xColStep: usize,
  d: usize, dStride: usize, out: usize, outStride: usize, accumulate: bool,
): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
  for (let i = 0; i < pixRows; i++) {
    let xb = x + <usize>i * xRowStep;
    for (let c = 0; c < pixCols; c++) {
      const d0 = v128.load(d), d1 = v128.load(d, 16), d2 = v128.load(d, 32), d3 = v128.load(d, 48);
      let v = v128.load32_splat(xb); a00 = madd(a00, v, d0); a01 = madd(a01, v, d1); a02 = madd(a02, v, d2); a03 = madd(a03, v, d3);
      v = v128.load32_splat(xb, 4); a10 = madd(a10, v, d0); a11 = madd(a11, v, d1); a12 = madd(a12, v, d2); a13 = madd(a13, v, d3);
      xb += xColStep;
      d += dStride;
    }
  }
  storeSum16(out, a00, a01, a02, a03, accumulate);
  storeSum16(out + outStride, a10, a11, a12, a13, accumulate);
}

// @ts-ignore: decorator
@inline function storeSum8(out: usize, a0: v128, a1: v128, cols: i32, accumulate: bool): void {
  if (accumulate) {
    a0 = f32x4.add(loadPartial(out, cols), a0);
    a1 = f32x4.add(loadPartial(out + 16, cols - 4), a1);
  }
  if (cols >= NARROW) {
    v128.store(out, a0);
    v128.store(out, a1, 16);
  } else {
    storePartial(out, a0, cols);
    storePartial(out + 16, a1, cols - 4);
  }
}

// @ts-ignore: decorator
@inline function storeSum16(out: usize, a0: v128, a1: v128, a2: v128, a3: v128, accumulate: bool): void {
  if (accumulate) {
    a0 = f32x4.add(v128.load(out), a0);
    a1 = f32x4.add(v128.load(out, 16), a1);
    a2 = f32x4.add(v128.load(out, 32), a2);
    a3 = f32x4.add(v128.load(out, 48), a3);
  }
  v128.store(out, a0);
  v128.store(out, a1, 16);
  v128.store(out, a2, 32);
  v128.store(out, a3, 48);
}
