import { F32 } from './simd';

/*
 * Softmax and the fused softmax cross-entropy, computed as src/kernels/activations.ts and
 * src/kernels/losses.ts do: float64 arithmetic in the same order, float32 stores. exp and log are
 * the host's Math.exp and Math.log (imported), the very functions the reference calls, so the
 * results match the reference bit for bit. They are software implementations in V8 (fdlibm), hence
 * the same on every machine; these kernels touch only rows x classes values, so the call overhead
 * does not matter.
 */

// @ts-ignore: decorator
@external("env", "exp")
declare function hostExp(x: f64): f64;
// @ts-ignore: decorator
@external("env", "log")
declare function hostLog(x: f64): f64;

/** y = softmax(x) over each of `rows` rows of `width` (y may be x). */
export function softmaxForward(x: usize, y: usize, rows: i32, width: i32): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>(r * width) * F32;
    const yr = y + <usize>(r * width) * F32;
    let mx = -Infinity;
    for (let j = 0; j < width; j++) {
      const v = <f64>load<f32>(xr + <usize>j * F32);
      if (v > mx) mx = v;
    }
    let sum: f64 = 0;
    for (let j = 0; j < width; j++) {
      const e = hostExp(<f64>load<f32>(xr + <usize>j * F32) - mx);
      store<f32>(yr + <usize>j * F32, <f32>e);
      sum += e;
    }
    for (let j = 0; j < width; j++) {
      const p = yr + <usize>j * F32;
      store<f32>(p, <f32>(<f64>load<f32>(p) / sum));
    }
  }
}

/** dx = y (dy - sum_j dy_j y_j) per row: the softmax Jacobian applied to dy (dx may be dy). */
export function softmaxBackward(y: usize, dy: usize, dx: usize, rows: i32, width: i32): void {
  for (let r = 0; r < rows; r++) {
    const o = <usize>(r * width) * F32;
    let dot: f64 = 0;
    for (let j = 0; j < width; j++) {
      const q = o + <usize>j * F32;
      dot += <f64>load<f32>(dy + q) * <f64>load<f32>(y + q);
    }
    for (let j = 0; j < width; j++) {
      const q = o + <usize>j * F32;
      store<f32>(dx + q, <f32>(<f64>load<f32>(y + q) * (<f64>load<f32>(dy + q) - dot)));
    }
  }
}

/**
 * Softmax cross-entropy from logits, in place: `out` holds logits on entry and probabilities on
 * exit; grad (0 = none) = softmax * sum(target) - target (softmax - target when targets sum to 1).
 * Targets are class indices at `sparse` (i32) or rows at `dense` (f32); exactly one is non-zero.
 * Returns the sum of the rows' losses.
 */
export function softmaxCrossEntropy(rows: i32, width: i32, out: usize, sparse: usize, dense: usize, grad: usize): f64 {
  let lossSum: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const row = out + <usize>(r * width) * F32;
    let targetSum: f64 = 1;
    if (sparse == 0) {
      targetSum = 0;
      for (let j = 0; j < width; j++) targetSum += <f64>load<f32>(dense + <usize>(r * width + j) * F32);
    }
    let mx = -Infinity;
    for (let j = 0; j < width; j++) {
      const v = <f64>load<f32>(row + <usize>j * F32);
      if (v > mx) mx = v;
    }
    let sum: f64 = 0;
    for (let j = 0; j < width; j++) sum += hostExp(<f64>load<f32>(row + <usize>j * F32) - mx);
    const logSum = hostLog(sum) + mx;
    const cls = sparse != 0 ? load<i32>(sparse + <usize>r * 4) : -1;
    for (let j = 0; j < width; j++) {
      const q = <usize>(r * width + j) * F32;
      const t: f64 = sparse != 0 ? (cls == j ? 1 : 0) : <f64>load<f32>(dense + q);
      const z = <f64>load<f32>(out + q);
      if (t != 0) lossSum += t * (logSum - z);
      const p = hostExp(z - logSum);
      store<f32>(out + q, <f32>p);
      if (grad != 0) store<f32>(grad + q, <f32>(p * targetSum - t));
    }
  }
  return lossSum;
}
