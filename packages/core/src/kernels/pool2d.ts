import type { WindowGeometry } from './geometry.js';

/*
 * Pooling over NHWC windows. Padding cells never take part (TensorFlow's rule): max/min ignore them
 * and the average divides by the number of real cells in the window.
 */

export type PoolKind = 'max' | 'min' | 'avg';

/**
 * Max or min pooling. `argIndex` records, per output, the flat input index that won (the first one on
 * ties), so the backward pass routes the gradient to exactly that cell; inference passes null.
 */
export function extremePoolForward(
  kind: 'max' | 'min', g: WindowGeometry, n: number,
  x: Float32Array, y: Float32Array, argIndex: Int32Array | null,
): void {
  const { inH, inW, inC, kH, kW, strideH, strideW, outH, outW, padTop, padLeft } = g;
  const sign = kind === 'max' ? 1 : -1;
  for (let s = 0; s < n; s++) {
    const xBase = s * inH * inW * inC;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = Math.max(oh * strideH - padTop, 0);
      const h1 = Math.min(oh * strideH - padTop + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = Math.max(ow * strideW - padLeft, 0);
        const w1 = Math.min(ow * strideW - padLeft + kW, inW);
        const yOff = ((s * outH + oh) * outW + ow) * inC;
        for (let c = 0; c < inC; c++) {
          let best = -Infinity;
          let bestIndex = -1;
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = w0; iw < w1; iw++) {
              const i = xBase + (ih * inW + iw) * inC + c;
              const v = sign * x[i];
              // NaN wins so that a diverged activation shows up instead of being hidden.
              if (v > best || bestIndex < 0 || v !== v) {
                best = v;
                bestIndex = i;
                if (v !== v) break;
              }
            }
          }
          y[yOff + c] = x[bestIndex];
          if (argIndex) argIndex[yOff + c] = bestIndex;
        }
      }
    }
  }
}

/** dx = 0 except at each window's winner, which receives the window's dy (summed when windows overlap). */
export function extremePoolBackward(n: number, inSize: number, outSize: number, dy: Float32Array, argIndex: Int32Array, dx: Float32Array): void {
  dx.fill(0, 0, n * inSize);
  const total = n * outSize;
  for (let o = 0; o < total; o++) dx[argIndex[o]] += dy[o];
}

export function avgPoolForward(g: WindowGeometry, n: number, x: Float32Array, y: Float32Array): void {
  const { inH, inW, inC, kH, kW, strideH, strideW, outH, outW, padTop, padLeft } = g;
  for (let s = 0; s < n; s++) {
    const xBase = s * inH * inW * inC;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = Math.max(oh * strideH - padTop, 0);
      const h1 = Math.min(oh * strideH - padTop + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = Math.max(ow * strideW - padLeft, 0);
        const w1 = Math.min(ow * strideW - padLeft + kW, inW);
        const count = (h1 - h0) * (w1 - w0);
        const yOff = ((s * outH + oh) * outW + ow) * inC;
        for (let c = 0; c < inC; c++) {
          let sum = 0;
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = w0; iw < w1; iw++) sum += x[xBase + (ih * inW + iw) * inC + c];
          }
          y[yOff + c] = sum / count;
        }
      }
    }
  }
}

export function avgPoolBackward(g: WindowGeometry, n: number, dy: Float32Array, dx: Float32Array): void {
  const { inH, inW, inC, kH, kW, strideH, strideW, outH, outW, padTop, padLeft } = g;
  dx.fill(0, 0, n * inH * inW * inC);
  for (let s = 0; s < n; s++) {
    const xBase = s * inH * inW * inC;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = Math.max(oh * strideH - padTop, 0);
      const h1 = Math.min(oh * strideH - padTop + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = Math.max(ow * strideW - padLeft, 0);
        const w1 = Math.min(ow * strideW - padLeft + kW, inW);
        const count = (h1 - h0) * (w1 - w0);
        const yOff = ((s * outH + oh) * outW + ow) * inC;
        for (let c = 0; c < inC; c++) {
          const share = dy[yOff + c] / count;
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = w0; iw < w1; iw++) dx[xBase + (ih * inW + iw) * inC + c] += share;
          }
        }
      }
    }
  }
}
