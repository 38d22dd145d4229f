import { DEFAULTS } from '../defaults.js';
import { CnnError } from '../errors.js';
import type { Loss } from '../losses/index.js';
import type { Network } from '../model/network.js';
import type { Optimizer } from '../optimizers/optimizer.js';
import { epochPermutation } from '../random/permutation.js';
import type { Tensor } from '../tensor.js';
import { type Callbacks, fire, History, type Logs } from './callbacks.js';
import type { ShardStats } from './gradient.js';
import type { Strategy } from './strategy.js';
import { yieldToEventLoop } from './yield.js';

/** The model state the loop advances: parameters, optimizer slots and the iteration count. */
export interface TrainableState {
  readonly network: Network;
  readonly params: Float32Array;
  readonly optimizer: Optimizer;
  readonly slots: readonly Float32Array[];
  readonly loss: Loss;
  readonly fuseSoftmax: boolean;
  readonly modelConfig: unknown;
  iterations: number;
  stopTraining: boolean;
}

export interface FitLoopOptions {
  batchSize: number;
  epochs: number;
  initialEpoch: number;
  /** Batch of initialEpoch to start at (resuming mid-epoch from a checkpoint). */
  initialBatch: number;
  shuffle: boolean;
  seed: number;
  microBatchSize: number;
  /** Stop after this many optimizer steps in total (a smoke test or a benchmark). */
  maxSteps: number;
  validation: { x: Tensor; y: Tensor } | null;
  callbacks: Callbacks[];
  strategy: Strategy;
}

/** Turns summed stats into the logged means. */
export function statsToLogs(stats: ShardStats, prefix = ''): Logs {
  return { [`${prefix}loss`]: stats.lossSum / stats.count, [`${prefix}acc`]: stats.correct / stats.count };
}


/**
 * The training loop shared by every strategy: epoch orders from the seed, one step per global batch
 * (the strategy computes the canonical-tree gradient and applies the update), callbacks, validation.
 */
export async function fitLoop(state: TrainableState, x: Tensor, y: Tensor, o: FitLoopOptions): Promise<History> {
  const n = x.shape[0];
  if (n === 0) throw new CnnError('CNN_ERR_BAD_INPUT', 'fit: the training set is empty');
  const history = new History();
  const strategy = o.strategy;
  await strategy.prepare({
    network: state.network, modelConfig: state.modelConfig, params: state.params, loss: state.loss,
    fuseSoftmax: state.fuseSoftmax, optimizer: state.optimizer, slots: state.slots,
    microBatch: o.microBatchSize, maxBatchSize: Math.min(o.batchSize, n), seed: o.seed, x, y,
  });
  state.stopTraining = false;
  const order = new Int32Array(n);
  const stepsPerEpoch = Math.ceil(n / o.batchSize);
  let stepsDone = 0;
  let lastYield = Date.now();
  // Per step, a hook nobody set costs nothing: no logs object, no promise.
  const batchBegin = o.callbacks.some((c) => c.onBatchBegin);
  const batchEnd = o.callbacks.some((c) => c.onBatchEnd);
  await fire(o.callbacks, 'onTrainBegin');
  for (let epoch = o.initialEpoch; epoch < o.epochs && !state.stopTraining; epoch++) {
    await fire(o.callbacks, 'onEpochBegin', epoch);
    await strategy.setOrder(o.shuffle ? epochPermutation(o.seed, epoch, n, order) : null);
    const epochStats: ShardStats = { lossSum: 0, correct: 0, count: 0 };
    const firstBatch = epoch === o.initialEpoch ? o.initialBatch : 0;
    for (let batch = firstBatch; batch < stepsPerEpoch && stepsDone < o.maxSteps && !state.stopTraining; batch++) {
      const batchStart = batch * o.batchSize;
      const batchSize = Math.min(o.batchSize, n - batchStart);
      if (batchBegin) await fire(o.callbacks, 'onBatchBegin', batch, { batch, size: batchSize });
      const stats = await strategy.trainStep({ step: state.iterations, epoch, batchStart, batchSize });
      state.iterations += 1;
      stepsDone++;
      epochStats.lossSum += stats.lossSum;
      epochStats.correct += stats.correct;
      epochStats.count += stats.count;
      if (batchEnd) await fire(o.callbacks, 'onBatchEnd', batch, { batch, epoch, size: batchSize, ...statsToLogs(stats) });
      if (Date.now() - lastYield > DEFAULTS.yieldEveryMs) {
        await yieldToEventLoop();
        lastYield = Date.now();
      }
    }
    if (epochStats.count === 0) break;
    const logs = statsToLogs(epochStats);
    if (o.validation) Object.assign(logs, statsToLogs(await strategy.evaluate(o.validation.x, o.validation.y), 'val_'));
    history.record(epoch, logs);
    await fire(o.callbacks, 'onEpochEnd', epoch, logs);
    if (stepsDone >= o.maxSteps) break;
  }
  await fire(o.callbacks, 'onTrainEnd', history.epoch.length ? lastLogs(history) : undefined);
  return history;
}

function lastLogs(history: History): Logs {
  const logs: Logs = {};
  for (const [k, v] of Object.entries(history.history)) logs[k] = v[v.length - 1];
  return logs;
}
