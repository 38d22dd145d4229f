import type { Loss } from '../losses/index.js';
import type { Network } from '../model/network.js';
import type { Optimizer } from '../optimizers/optimizer.js';
import type { Tensor } from '../tensor.js';
import type { ShardStats } from './gradient.js';

/** What a strategy needs to train a model on a training set. */
export interface TrainingSetup {
  readonly network: Network;
  /** The model's topology (Sequential.toJSON()), so other threads or hosts can rebuild it. */
  readonly modelConfig: unknown;
  /** The model's flat parameters (SharedArrayBuffer-backed); updated in place by trainStep. */
  readonly params: Float32Array;
  readonly loss: Loss;
  readonly fuseSoftmax: boolean;
  readonly optimizer: Optimizer;
  /** Optimizer state buffers in the parameter layout (SharedArrayBuffer-backed). */
  readonly slots: readonly Float32Array[];
  readonly microBatch: number;
  /** Largest global batch a step will have. */
  readonly maxBatchSize: number;
  readonly seed: number;
  /** The training set (null when the strategy only evaluates or predicts). */
  readonly x: Tensor | null;
  readonly y: Tensor | null;
}

/** One step's share of the epoch: samples order[batchStart, batchStart + batchSize). */
export interface StepRequest {
  /** Optimizer iterations done before this step (0 for a fresh model): keys dropout; the update is number step + 1. */
  readonly step: number;
  /** The epoch the step belongs to: with (seed, epoch) a remote host derives the sample order itself. */
  readonly epoch: number;
  readonly batchStart: number;
  readonly batchSize: number;
}

/**
 * Where the arithmetic of training runs: one thread, a host's worker threads, or a cluster. Every
 * strategy computes the step's gradient as the canonical tree over micro-shards and applies the
 * update with applyUpdate, so the weights do not depend on which strategy ran or how it split work.
 * The fit loop and all bookkeeping stay in one place (fitLoop).
 */
export interface Strategy {
  readonly name: string;
  prepare(setup: TrainingSetup): Promise<void>;
  /** The epoch's sample order (null: natural order). Stays valid until the next call. */
  setOrder(order: Int32Array | null): Promise<void>;
  /** Computes the step's gradient and updates the parameters; resolves to the step's loss and accuracy sums. */
  trainStep(request: StepRequest): Promise<ShardStats>;
  /** Loss and accuracy of the current parameters over x/y. */
  evaluate(x: Tensor, y: Tensor): Promise<ShardStats>;
  /** Model outputs for x, x.shape[0] rows. */
  predict(x: Tensor): Promise<Float32Array>;
  /** Frees threads, connections and memory; prepare() may be called again afterwards. */
  close(): Promise<void>;
}
