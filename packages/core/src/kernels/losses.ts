/*
 * Loss kernels over a micro-shard of `rows` outputs of `width` values. Each returns the sum of the
 * per-sample losses (float64) and, when `grad` is given, writes d(sum of losses)/d(output): the
 * per-sample gradient, not divided by the batch size (the step scales the tree-summed gradient once).
 */

/** Keras' backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON] before the log. */
export const EPSILON = 1e-7;

/** Targets of a shard: class indices (sparse) or a dense row of `width` values per sample. */
export type SparseTargets = { readonly sparse: Int32Array; readonly dense?: undefined };
export type DenseTargets = { readonly dense: Float32Array; readonly sparse?: undefined };
export type Targets = SparseTargets | DenseTargets;

function targetAt(t: Targets, row: number, width: number, j: number): number {
  return t.sparse ? (t.sparse[row] === j ? 1 : 0) : t.dense[row * width + j];
}

/**
 * Softmax cross-entropy from logits, in place: `out` holds logits on entry and probabilities on exit,
 * so predictions and metrics read it as if softmax had run. loss = sum t (logsumexp(z) - z), stable
 * for any logits; grad = softmax(z) sum(t) - t, which is softmax(z) - t for targets that sum to 1
 * (the same bits for class indices and one-hot rows) and stays the loss's derivative for any others.
 */
export function softmaxCrossEntropyFromLogits(rows: number, width: number, out: Float32Array, targets: Targets, grad: Float32Array | null): number {
  let lossSum = 0;
  for (let r = 0; r < rows; r++) {
    const off = r * width;
    let targetSum = 1;
    if (targets.dense) {
      targetSum = 0;
      for (let j = 0; j < width; j++) targetSum += targets.dense[off + j];
    }
    let max = -Infinity;
    for (let j = 0; j < width; j++) if (out[off + j] > max) max = out[off + j];
    let sum = 0;
    for (let j = 0; j < width; j++) sum += Math.exp(out[off + j] - max);
    const logSum = Math.log(sum) + max;
    for (let j = 0; j < width; j++) {
      const t = targetAt(targets, r, width, j);
      const z = out[off + j];
      if (t !== 0) lossSum += t * (logSum - z);
      const p = Math.exp(z - logSum);
      out[off + j] = p;
      if (grad) grad[off + j] = p * targetSum - t;
    }
  }
  return lossSum;
}

/** Cross-entropy on probabilities, clipped as Keras does; grad is zero where the clip is active. */
export function crossEntropyOnProbabilities(rows: number, width: number, out: Float32Array, targets: Targets, grad: Float32Array | null): number {
  let lossSum = 0;
  for (let r = 0; r < rows; r++) {
    const off = r * width;
    for (let j = 0; j < width; j++) {
      const t = targetAt(targets, r, width, j);
      const p = out[off + j];
      const clipped = Math.min(Math.max(p, EPSILON), 1 - EPSILON);
      if (t !== 0) lossSum -= t * Math.log(clipped);
      if (grad) grad[off + j] = t !== 0 && clipped === p ? -t / p : 0;
    }
  }
  return lossSum;
}

/** Per sample: mean over the row of (y - t)^2, as Keras' mean_squared_error; grad = 2 (y - t) / width. */
export function meanSquaredError(rows: number, width: number, out: Float32Array, targets: Targets, grad: Float32Array | null): number {
  let lossSum = 0;
  for (let r = 0; r < rows; r++) {
    const off = r * width;
    let rowSum = 0;
    for (let j = 0; j < width; j++) {
      const d = out[off + j] - targetAt(targets, r, width, j);
      rowSum += d * d;
      if (grad) grad[off + j] = (2 * d) / width;
    }
    lossSum += rowSum / width;
  }
  return lossSum;
}

/** Samples whose largest output is at the target class (the first maximum on ties). */
export function countCorrect(rows: number, width: number, out: Float32Array, targets: Targets): number {
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const off = r * width;
    if (width === 1) {
      // binary accuracy: threshold 0.5, as Keras' 'accuracy' on one output
      const predicted = out[off] > 0.5 ? 1 : 0;
      const truth = targets.sparse ? targets.sparse[r] : targets.dense[r] > 0.5 ? 1 : 0;
      if (predicted === truth) correct++;
      continue;
    }
    let best = 0;
    for (let j = 1; j < width; j++) if (out[off + j] > out[off + best]) best = j;
    let truth: number;
    if (targets.sparse) truth = targets.sparse[r];
    else {
      truth = 0;
      for (let j = 1; j < width; j++) if (targets.dense[off + j] > targets.dense[off + truth]) truth = j;
    }
    if (best === truth) correct++;
  }
  return correct;
}
