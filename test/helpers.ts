import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Dataset, type Sequential, type Strategy, datasets, models } from '@cnn/core';

let mnistCache: Promise<Dataset> | undefined;

/** MNIST, loaded once per test file. */
export function mnist(): Promise<Dataset> {
  mnistCache ??= datasets.mnist();
  return mnistCache;
}

export interface TrainRun {
  model: Sequential;
  params: Float32Array;
  history: Record<string, number[]>;
}

/** Trains a built-in model for `steps` steps with Adam and returns a copy of its weights. */
export async function trainSteps(
  name: 'seed' | 'lenet5' | 'convnet', strategy: Strategy,
  options: { steps: number; batchSize: number; microBatchSize: number; seed?: number; validate?: boolean },
): Promise<TrainRun> {
  const { train, test } = await mnist();
  const model = models[name]({ seed: options.seed ?? 1 });
  model.compile({ loss: 'sparse_categorical_crossentropy', optimizer: 'adam', metrics: ['accuracy'] });
  const history = await model.fit(train.x, train.y, {
    batchSize: options.batchSize,
    microBatchSize: options.microBatchSize,
    epochs: 1,
    maxSteps: options.steps,
    strategy,
    validationData: options.validate ? [test.x.slice(0, 1000), test.y.slice(0, 1000)] : undefined,
  });
  return { model, params: model.params.slice(), history: history.history };
}

/** Index of the first element whose bits differ, or -1. */
export function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

let collect: (() => void) | undefined;

/** Bytes of live JavaScript heap after a full collection (what a long run keeps, not what it churns). */
export function liveHeap(): number {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
  return process.memoryUsage().heapUsed;
}
