import { F32 } from './simd';

/*
 * Pooling over NHWC windows, as src/kernels/pool2d.ts defines it (TensorFlow's rule: padding cells
 * never take part). Max/min pooling only selects and copies bits, so it matches the reference bit
 * for bit, NaN payloads included; average pooling sums in float64 in the reference's order, so it
 * matches bit for bit too.
 */

/**
 * Max (isMax) or min pooling of n samples; arg (0 = none) receives, per output, the flat index into
 * x of the winning cell: the first extreme in window order, or a NaN, which wins (the reference's
 * rule exactly: see below).
 * Channels go four to a vector; when C is not a multiple of 4 the last vector overlaps the one
 * before (C >= 4), recomputing a few channels with identical results.
 */
export function extremePoolForward(
  isMax: bool, x: usize, y: usize, arg: usize, n: i32,
  inH: i32, inW: i32, C: i32, kH: i32, kW: i32, sH: i32, sW: i32, outH: i32, outW: i32, padTop: i32, padLeft: i32,
): void {
  const lane = i32x4(0, 1, 2, 3);
  for (let s = 0; s < n; s++) {
    const xBase = s * inH * inW * C;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = max(oh * sH - padTop, 0);
      const h1 = min(oh * sH - padTop + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = max(ow * sW - padLeft, 0);
        const w1 = min(ow * sW - padLeft + kW, inW);
        const yOff = ((s * outH + oh) * outW + ow) * C;
        if (C < 4) {
          for (let c = 0; c < C; c++) scalarExtreme(isMax, x, y, arg, xBase, inW, C, c, h0, h1, w0, w1, yOff);
          continue;
        }
        for (let c0 = 0; c0 < C; c0 += 4) {
          const c = min(c0, C - 4);
          const first = xBase + (h0 * inW + w0) * C + c;
          let best = v128.load(x + <usize>first * F32);
          let bestIndex = i32x4.add(i32x4.splat(first), lane);
          // The reference takes the first cell, then a strictly better one or a NaN; after taking a
          // NaN it skips the rest of that row only, so a NaN in a later row wins again: per lane,
          // rowNaN says whether this row already had a NaN.
          let rowNaN = f32x4.ne(best, best);
          for (let ih = h0; ih < h1; ih++) {
            if (ih != h0) rowNaN = v128.splat<i32>(0);
            for (let iw = ih == h0 ? w0 + 1 : w0; iw < w1; iw++) {
              const i = xBase + (ih * inW + iw) * C + c;
              const v = v128.load(x + <usize>i * F32);
              const isNaN = f32x4.ne(v, v);
              const better = isMax ? f32x4.gt(v, best) : f32x4.lt(v, best);
              const take = v128.or(better, v128.andnot(isNaN, rowNaN));
              best = v128.bitselect(v, best, take);
              bestIndex = v128.bitselect(i32x4.add(i32x4.splat(i), lane), bestIndex, take);
              rowNaN = v128.or(rowNaN, isNaN);
            }
          }
          v128.store(y + <usize>(yOff + c) * F32, best);
          if (arg != 0) v128.store(arg + <usize>(yOff + c) * 4, bestIndex);
        }
      }
    }
  }
}

/** One channel of one window, the reference's loop as written (its break leaves only the row). */
function scalarExtreme(isMax: bool, x: usize, y: usize, arg: usize, xBase: i32, inW: i32, C: i32, c: i32, h0: i32, h1: i32, w0: i32, w1: i32, yOff: i32): void {
  let best: f32 = 0;
  let bestIndex = -1;
  for (let ih = h0; ih < h1; ih++) {
    for (let iw = w0; iw < w1; iw++) {
      const i = xBase + (ih * inW + iw) * C + c;
      const v = load<f32>(x + <usize>i * F32);
      if ((isMax ? v > best : v < best) || bestIndex < 0 || v != v) {
        best = v;
        bestIndex = i;
        if (v != v) break;
      }
    }
  }
  store<f32>(y + <usize>(yOff + c) * F32, best);
  if (arg != 0) store<i32>(arg + <usize>(yOff + c) * 4, bestIndex);
}

/**
 * dx = 0 except at each window's winner, which receives its dy, added in output order. Traps on a
 * winner index outside [0, n * inSize) rather than write outside dx.
 */
export function extremePoolBackward(n: i32, inSize: i32, outSize: i32, dy: usize, arg: usize, dx: usize): void {
  const total = <u32>(n * inSize);
  memory.fill(dx, 0, <usize>total * F32);
  const outs = n * outSize;
  for (let o = 0; o < outs; o++) {
    const i = load<u32>(arg + <usize>o * 4);
    if (i >= total) unreachable();
    const p = dx + <usize>i * F32;
    store<f32>(p, load<f32>(p) + load<f32>(dy + <usize>o * F32));
  }
}

/** Average over the real cells of each window, summed in float64 in window order as the reference. */
export function avgPoolForward(
  x: usize, y: usize, n: i32,
  inH: i32, inW: i32, C: i32, kH: i32, kW: i32, sH: i32, sW: i32, outH: i32, outW: i32, padTop: i32, padLeft: i32,
): void {
  for (let s = 0; s < n; s++) {
    const xBase = s * inH * inW * C;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = max(oh * sH - padTop, 0);
      const h1 = min(oh * sH - padTop + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = max(ow * sW - padLeft, 0);
        const w1 = min(ow * sW - padLeft + kW, inW);
        const count = <f64>((h1 - h0) * (w1 - w0));
        const yOff = ((s * outH + oh) * outW + ow) * C;
        for (let c = 0; c < C; c++) {
          let sum: f64 = 0;
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = w0; iw < w1; iw++) sum += <f64>load<f32>(x + <usize>(xBase + (ih * inW + iw) * C + c) * F32);
          }
          store<f32>(y + <usize>(yOff + c) * F32, <f32>(sum / count));
        }
      }
    }
  }
}

/** Each window's dy / count added to its real cells, in float64 then rounded, as the reference. */
export function avgPoolBackward(
  dy: usize, dx: usize, n: i32,
  inH: i32, inW: i32, C: i32, kH: i32, kW: i32, sH: i32, sW: i32, outH: i32, outW: i32, padTop: i32, padLeft: i32,
): void {
  memory.fill(dx, 0, <usize>(n * inH * inW * C) * F32);
  for (let s = 0; s < n; s++) {
    const xBase = s * inH * inW * C;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = max(oh * sH - padTop, 0);
      const h1 = min(oh * sH - padTop + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = max(ow * sW - padLeft, 0);
        const w1 = min(ow * sW - padLeft + kW, inW);
        const count = <f64>((h1 - h0) * (w1 - w0));
        const yOff = ((s * outH + oh) * outW + ow) * C;
        for (let c = 0; c < C; c++) {
          const share = <f64>load<f32>(dy + <usize>(yOff + c) * F32) / count;
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = w0; iw < w1; iw++) {
              const p = dx + <usize>(xBase + (ih * inW + iw) * C + c) * F32;
              store<f32>(p, <f32>(<f64>load<f32>(p) + share));
            }
          }
        }
      }
    }
  }
}
