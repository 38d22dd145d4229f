import type { Callbacks, Logs } from '@cnn/core';
import type { ProgressView } from './events.js';

export interface TrackerOptions {
  epochs: number;
  stepsPerEpoch: number;
  /** The run's step limit in total (--max-steps), if any. */
  maxSteps?: number;
  /** Steps taken so far (the model's iteration count, which grows as training goes). */
  iterations: () => number;
  /** Live hosts, for a coordinator. */
  hosts?: () => number;
}

/**
 * Fit callbacks that turn training into step and epoch events for a view: running means of loss and
 * accuracy over the epoch, images per second, and an ETA for the epoch's last step.
 */
export function progressCallbacks(view: ProgressView, o: TrackerOptions): Callbacks {
  let epochStart = performance.now();
  let trainedUntil = epochStart;
  let images = 0;
  let lossSum = 0;
  let correct = 0;
  let stepsDone = 0;
  let firstStepEnd = epochStart;
  let lastBatch = o.stepsPerEpoch;
  const hosts = () => (o.hosts ? { hosts: o.hosts() } : {});
  return {
    onEpochBegin: () => {
      epochStart = performance.now();
      trainedUntil = epochStart;
      images = lossSum = correct = stepsDone = 0;
      // A resumed run starts mid-epoch; --max-steps may end it early: the bar covers what will run.
      const done = o.iterations();
      const first = done % o.stepsPerEpoch;
      const remaining = o.maxSteps === undefined ? Infinity : o.maxSteps - done;
      lastBatch = Math.min(o.stepsPerEpoch, first + remaining);
    },
    onBatchEnd: (batch, logs: Logs = {}) => {
      trainedUntil = performance.now();
      images += logs.size;
      lossSum += logs.loss * logs.size;
      correct += logs.acc * logs.size;
      stepsDone += 1;
      if (stepsDone === 1) firstStepEnd = trainedUntil;
      const seconds = (trainedUntil - epochStart) / 1000;
      const left = lastBatch - (batch + 1);
      // The first step warms up (threads, caches, JIT): the ETA times the steps after it.
      const steady = (trainedUntil - firstStepEnd) / 1000;
      view.show({
        event: 'step',
        epoch: logs.epoch + 1,
        epochs: o.epochs,
        step: o.iterations(),
        batch: batch + 1,
        batches: lastBatch,
        loss: lossSum / images,
        accuracy: correct / images,
        imagesPerSecond: seconds > 0 ? images / seconds : 0,
        etaSeconds: left === 0 ? 0 : stepsDone > 1 && steady > 0 ? (left * steady) / (stepsDone - 1) : null,
        ...hosts(),
      });
    },
    onEpochEnd: (epoch, logs: Logs = {}) => {
      // Throughput counts training only, not the validation pass that ends the epoch.
      const seconds = (trainedUntil - epochStart) / 1000;
      view.show({
        event: 'epoch',
        epoch: epoch + 1,
        epochs: o.epochs,
        step: o.iterations(),
        loss: logs.loss,
        accuracy: logs.acc,
        valLoss: logs.val_loss ?? null,
        valAccuracy: logs.val_acc ?? null,
        imagesPerSecond: seconds > 0 ? images / seconds : 0,
        seconds,
        ...hosts(),
      });
    },
  };
}
