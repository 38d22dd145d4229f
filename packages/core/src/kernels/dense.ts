/*
 * Fully connected layer with a Keras-layout kernel w[in, out]: y = x w + b over a batch of n rows.
 */

export function denseForward(n: number, inDim: number, outDim: number, x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, scratch: Float64Array): void {
  const acc = scratch.subarray(0, outDim);
  for (let s = 0; s < n; s++) {
    acc.fill(0);
    const xOff = s * inDim;
    for (let k = 0; k < inDim; k++) {
      const xv = x[xOff + k];
      if (xv === 0) continue;
      const wOff = k * outDim;
      for (let o = 0; o < outDim; o++) acc[o] += xv * w[wOff + o];
    }
    const yOff = s * outDim;
    if (bias) for (let o = 0; o < outDim; o++) y[yOff + o] = acc[o] + bias[o];
    else for (let o = 0; o < outDim; o++) y[yOff + o] = acc[o];
  }
}

/** dx[s, k] = sum over o of w[k, o] * dy[s, o]. */
export function denseBackwardInput(n: number, inDim: number, outDim: number, dy: Float32Array, w: Float32Array, dx: Float32Array): void {
  for (let s = 0; s < n; s++) {
    const dyOff = s * outDim;
    const dxOff = s * inDim;
    for (let k = 0; k < inDim; k++) {
      const wOff = k * outDim;
      let sum = 0;
      for (let o = 0; o < outDim; o++) sum += w[wOff + o] * dy[dyOff + o];
      dx[dxOff + k] = sum;
    }
  }
}

/** dw[k, o] = sum over s of x[s, k] * dy[s, o]; dbias[o] = sum over s of dy[s, o]. Overwrites both. */
export function denseBackwardFilter(n: number, inDim: number, outDim: number, x: Float32Array, dy: Float32Array, dw: Float32Array, dbias: Float32Array | null, scratch: Float64Array): void {
  const acc = scratch.subarray(0, outDim);
  for (let k = 0; k < inDim; k++) {
    acc.fill(0);
    for (let s = 0; s < n; s++) {
      const xv = x[s * inDim + k];
      if (xv === 0) continue;
      const dyOff = s * outDim;
      for (let o = 0; o < outDim; o++) acc[o] += xv * dy[dyOff + o];
    }
    const wOff = k * outDim;
    for (let o = 0; o < outDim; o++) dw[wOff + o] = acc[o];
  }
  if (dbias) {
    for (let o = 0; o < outDim; o++) {
      let sum = 0;
      for (let s = 0; s < n; s++) sum += dy[s * outDim + o];
      dbias[o] = sum;
    }
  }
}

export function denseScratchSize(outDim: number): number {
  return outDim;
}
