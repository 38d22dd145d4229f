import type { Sequential, Split } from '@cnn/core';
import { threads as threadStrategy } from '@cnn/worker';
import { classNames } from './classes.js';
import { type Confusion, argmaxRows, confusion } from './confusion.js';

export interface Evaluation {
  confusion: Confusion;
  /** Mean loss with the model's compiled loss (null for an uncompiled model). */
  loss: number | null;
}

/** The model's outputs for every image of x: on `threads` worker threads, or this thread for 1. */
export async function outputsOf(model: Sequential, x: Split['x'], threads: number): Promise<Float32Array> {
  const out = threads > 1 ? await model.predictAsync(x, { strategy: threadStrategy({ threads }) }) : model.predict(x);
  return out.dataSync() as Float32Array;
}

/** One inference pass over a split gives the confusion matrix, per-class figures and the loss. */
export async function evaluateSplit(model: Sequential, split: Split, dataset: string, threads: number): Promise<Evaluation> {
  const width = model.outputShape.reduce((a, d) => a * d, 1);
  const outputs = await outputsOf(model, split.x, threads);
  const labels = split.y.dataSync() as Int32Array;
  const matrix = confusion(dataset, labels, argmaxRows(outputs, width), classNames(dataset, width));
  let loss: number | null = null;
  if (model.isCompiled) {
    const rows = labels.length;
    const l = model.loss;
    // The loss turns logits into probabilities in place: give it a copy.
    const copy = outputs.slice();
    const targets = l.sparseTargets ? { sparse: labels } : { dense: oneHot(labels, width) };
    loss = rows > 0 ? l.compute(rows, width, copy, targets, null, false) / rows : null;
  }
  return { confusion: matrix, loss };
}

function oneHot(labels: Int32Array, width: number): Float32Array {
  const out = new Float32Array(labels.length * width);
  labels.forEach((c, i) => (out[i * width + c] = 1));
  return out;
}
