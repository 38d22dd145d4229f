/*
 * Element-wise activations and softmax over the last axis. Each backward pass needs only the
 * activation's output y (never its input), so a layer may apply its activation in place.
 */

export const ACTIVATIONS = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax'] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];

/**
 * to[0, count) = from[0, count), skipped when both view the same memory (an in-place layer's input
 * and output are distinct views of one buffer). No subarray: the training loop allocates nothing.
 */
function copyUnlessSame(from: Float32Array, to: Float32Array, count: number): void {
  if (from.buffer === to.buffer && from.byteOffset === to.byteOffset) return;
  for (let i = 0; i < count; i++) to[i] = from[i];
}

/** y = f(x) over `count` values laid out as rows of `width` (softmax normalises each row). */
export function activationForward(kind: ActivationName, count: number, width: number, x: Float32Array, y: Float32Array): void {
  switch (kind) {
    case 'linear':
      copyUnlessSame(x, y, count);
      return;
    case 'relu':
      for (let i = 0; i < count; i++) {
        const v = x[i];
        y[i] = v > 0 ? v : 0;
      }
      return;
    case 'sigmoid':
      for (let i = 0; i < count; i++) y[i] = 1 / (1 + Math.exp(-x[i]));
      return;
    case 'tanh':
      for (let i = 0; i < count; i++) y[i] = Math.tanh(x[i]);
      return;
    case 'softmax':
      softmaxRows(count / width, width, x, y);
      return;
  }
}

/** dx = dy * f'(x), written with y = f(x). dx may be dy itself. */
export function activationBackward(kind: ActivationName, count: number, width: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
  switch (kind) {
    case 'linear':
      copyUnlessSame(dy, dx, count);
      return;
    case 'relu':
      // relu'(0) = 0 as in TensorFlow
      for (let i = 0; i < count; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
      return;
    case 'sigmoid':
      for (let i = 0; i < count; i++) {
        const v = y[i];
        dx[i] = dy[i] * v * (1 - v);
      }
      return;
    case 'tanh':
      for (let i = 0; i < count; i++) {
        const v = y[i];
        dx[i] = dy[i] * (1 - v * v);
      }
      return;
    case 'softmax':
      // dx_i = y_i (dy_i - sum_j dy_j y_j), the softmax Jacobian applied to dy
      for (let r = 0; r < count; r += width) {
        let dot = 0;
        for (let j = 0; j < width; j++) dot += dy[r + j] * y[r + j];
        for (let j = 0; j < width; j++) dx[r + j] = y[r + j] * (dy[r + j] - dot);
      }
      return;
  }
}

/** Numerically stable softmax: exp(x - max) / sum. y may be x. */
export function softmaxRows(rows: number, width: number, x: Float32Array, y: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const off = r * width;
    let max = -Infinity;
    for (let j = 0; j < width; j++) if (x[off + j] > max) max = x[off + j];
    let sum = 0;
    for (let j = 0; j < width; j++) {
      const e = Math.exp(x[off + j] - max);
      y[off + j] = e;
      sum += e;
    }
    for (let j = 0; j < width; j++) y[off + j] = y[off + j] / sum;
  }
}
