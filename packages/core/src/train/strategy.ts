import type { Loss } from '../losses/index.js';
import type { Network } from '../model/network.js';
import type { Tensor } from '../tensor.js';
import type { ShardStats } from './gradient.js';
import type { BlockSum } from './tree.js';

/** What a strategy needs to compute gradients for a model on a training set. */
export interface TrainingSetup {
  readonly network: Network;
  /** The model's saved form (model.json topology), so other threads or hosts can rebuild it. */
  readonly modelConfig: unknown;
  /** The model's flat parameters; strategies read them and never write them. */
  readonly params: Float32Array;
  readonly loss: Loss;
  readonly fuseSoftmax: boolean;
  readonly microBatch: number;
  /** Largest global batch a step will have. */
  readonly maxBatchSize: number;
  readonly seed: number;
  readonly x: Tensor;
  readonly y: Tensor;
}

/** One step's share of the epoch: samples order[batchStart, batchStart + batchSize). */
export interface StepRequest {
  /** Optimizer iteration (0 for the first step of a fresh model): keys dropout. */
  readonly step: number;
  readonly batchStart: number;
  readonly batchSize: number;
}

/**
 * Where the arithmetic of training runs: one thread, a host's worker threads, or a cluster. Every
 * strategy returns the step's gradient as the root of the canonical tree (unscaled), so the weights
 * do not depend on which one ran. The fit loop, the optimizer and all bookkeeping stay in one place.
 */
export interface Strategy {
  readonly name: string;
  prepare(setup: TrainingSetup): Promise<void>;
  /** The epoch's sample order (null: natural order). Stays valid until the next call. */
  setOrder(order: Int32Array | null): Promise<void>;
  computeGradient(request: StepRequest): Promise<BlockSum>;
  /** Loss and accuracy of the current parameters over x/y. */
  evaluate(x: Tensor, y: Tensor): Promise<ShardStats>;
  /** Model outputs for x, written to a new Float32Array of x.shape[0] rows. */
  predict(x: Tensor): Promise<Float32Array>;
  /** Frees threads, connections and memory; the strategy may not be used again. */
  close(): Promise<void>;
}
