import type { WindowGeometry } from './geometry.js';

/** Float64 scratch the three conv kernels need, in elements. */
export function conv2dScratchSize(g: WindowGeometry, outC: number): number {
  return Math.max(outC, g.inH * g.inW * g.inC, g.kH * g.kW * g.inC * outC + outC);
}

/*
 * Reference 2-D convolution over NHWC activations with a Keras-layout kernel [kH, kW, inC, outC].
 * Inner loops run over the contiguous output-channel axis. Every sum has a fixed order, so equal
 * inputs give equal bits whichever thread runs them.
 */

/** y[n, oh, ow, co] = bias[co] + sum over (kh, kw, ci) of x[n, ih, iw, ci] * w[kh, kw, ci, co]. */
export function conv2dForward(
  g: WindowGeometry, outC: number, n: number,
  x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, scratch: Float64Array,
): void {
  const { inH, inW, inC, kH, kW, strideH, strideW, outH, outW, padTop, padLeft } = g;
  const acc = scratch.subarray(0, outC);
  for (let s = 0; s < n; s++) {
    const xBase = s * inH * inW * inC;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        acc.fill(0);
        for (let kh = 0; kh < kH; kh++) {
          const ih = oh * strideH - padTop + kh;
          if (ih < 0 || ih >= inH) continue;
          for (let kw = 0; kw < kW; kw++) {
            const iw = ow * strideW - padLeft + kw;
            if (iw < 0 || iw >= inW) continue;
            const xOff = xBase + (ih * inW + iw) * inC;
            const wOff = (kh * kW + kw) * inC * outC;
            for (let ci = 0; ci < inC; ci++) {
              const xv = x[xOff + ci];
              if (xv === 0) continue;
              const wRow = wOff + ci * outC;
              for (let co = 0; co < outC; co++) acc[co] += xv * w[wRow + co];
            }
          }
        }
        const yOff = ((s * outH + oh) * outW + ow) * outC;
        if (bias) for (let co = 0; co < outC; co++) y[yOff + co] = acc[co] + bias[co];
        else for (let co = 0; co < outC; co++) y[yOff + co] = acc[co];
      }
    }
  }
}

/** dx[n, ih, iw, ci] = sum over windows covering it of w[kh, kw, ci, co] * dy[n, oh, ow, co]. */
export function conv2dBackwardInput(
  g: WindowGeometry, outC: number, n: number,
  dy: Float32Array, w: Float32Array, dx: Float32Array, scratch: Float64Array,
): void {
  const { inH, inW, inC, kH, kW, strideH, strideW, outH, outW, padTop, padLeft } = g;
  const acc = scratch.subarray(0, inH * inW * inC);
  for (let s = 0; s < n; s++) {
    acc.fill(0);
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const dyOff = ((s * outH + oh) * outW + ow) * outC;
        for (let kh = 0; kh < kH; kh++) {
          const ih = oh * strideH - padTop + kh;
          if (ih < 0 || ih >= inH) continue;
          for (let kw = 0; kw < kW; kw++) {
            const iw = ow * strideW - padLeft + kw;
            if (iw < 0 || iw >= inW) continue;
            const aOff = (ih * inW + iw) * inC;
            const wOff = (kh * kW + kw) * inC * outC;
            for (let ci = 0; ci < inC; ci++) {
              const wRow = wOff + ci * outC;
              let sum = 0;
              for (let co = 0; co < outC; co++) sum += w[wRow + co] * dy[dyOff + co];
              acc[aOff + ci] += sum;
            }
          }
        }
      }
    }
    const dxOff = s * acc.length;
    for (let i = 0; i < acc.length; i++) dx[dxOff + i] = acc[i];
  }
}

/**
 * dw[kh, kw, ci, co] = sum over samples and output pixels of x[n, ih, iw, ci] * dy[n, oh, ow, co];
 * dbias[co] = sum of dy[..., co]. Overwrites dw and dbias (the sum of one micro-shard).
 */
export function conv2dBackwardFilter(
  g: WindowGeometry, outC: number, n: number,
  x: Float32Array, dy: Float32Array, dw: Float32Array, dbias: Float32Array | null, scratch: Float64Array,
): void {
  const { inH, inW, inC, kH, kW, strideH, strideW, outH, outW, padTop, padLeft } = g;
  const acc = scratch.subarray(0, dw.length);
  const accBias = scratch.subarray(dw.length, dw.length + outC);
  acc.fill(0);
  accBias.fill(0);
  for (let s = 0; s < n; s++) {
    const xBase = s * inH * inW * inC;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const dyOff = ((s * outH + oh) * outW + ow) * outC;
        for (let co = 0; co < outC; co++) accBias[co] += dy[dyOff + co];
        for (let kh = 0; kh < kH; kh++) {
          const ih = oh * strideH - padTop + kh;
          if (ih < 0 || ih >= inH) continue;
          for (let kw = 0; kw < kW; kw++) {
            const iw = ow * strideW - padLeft + kw;
            if (iw < 0 || iw >= inW) continue;
            const xOff = xBase + (ih * inW + iw) * inC;
            const wOff = (kh * kW + kw) * inC * outC;
            for (let ci = 0; ci < inC; ci++) {
              const xv = x[xOff + ci];
              if (xv === 0) continue;
              const wRow = wOff + ci * outC;
              for (let co = 0; co < outC; co++) acc[wRow + co] += xv * dy[dyOff + co];
            }
          }
        }
      }
    }
  }
  for (let i = 0; i < dw.length; i++) dw[i] = acc[i];
  if (dbias) for (let i = 0; i < outC; i++) dbias[i] = accBias[i];
}
