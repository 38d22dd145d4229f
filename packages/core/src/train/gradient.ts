import { countCorrect } from '../kernels/losses.js';
import type { Loss } from '../losses/index.js';
import type { Workspace } from '../model/workspace.js';
import type { Tensor } from '../tensor.js';
import { gatherInputs, gatherTargets } from './batch.js';

/** Loss and accuracy counts of some samples; sums, so they combine by addition. */
export interface ShardStats {
  lossSum: number;
  correct: number;
  count: number;
}

/** One step's data and settings, the same for every thread and host that works on it. */
export interface StepJob {
  readonly x: Tensor;
  readonly y: Tensor;
  /** Sample indices of the step's global batch, in batch order (null: samples 0..batchSize-1). */
  readonly indices: Int32Array | null;
  /** Offset of the step's first sample in `indices`. */
  readonly batchStart: number;
  readonly batchSize: number;
  readonly microBatch: number;
  readonly seed: number;
  /** The optimizer iteration this gradient is for (0 for the first): keys dropout masks. */
  readonly step: number;
  readonly loss: Loss;
  readonly fuseSoftmax: boolean;
}

/** Whether the loss can take the last layer's logits and differentiate through its softmax itself. */
export function canFuseSoftmax(loss: Loss, finalActivation: string): boolean {
  return loss.fusesSoftmax && !loss.fromLogits && finalActivation === 'softmax';
}

/**
 * THE gradient step: the summed (not averaged) gradient of the loss over micro-shard `shard` of the
 * job's batch, written into gradient slot `slot` of the workspace. fit, trainOnBatch, every worker
 * thread and so every host compute gradients through this function and no other.
 */
export function gradientOfShard(ws: Workspace, job: StepJob, shard: number, slot: number): ShardStats {
  const first = shard * job.microBatch;
  const n = Math.min(job.microBatch, job.batchSize - first);
  const width = ws.network.outputSize;
  const start = job.batchStart + first;
  gatherInputs(job.x, job.indices, start, n, ws);
  const targets = gatherTargets(job.y, job.loss.sparseTargets, width, job.indices, start, n, ws.sparseTargetSet, ws.denseTargetSet);
  ws.forward(n, true, job.seed, job.step, first, job.fuseSoftmax);
  const lossSum = job.loss.compute(n, width, ws.output, targets, ws.outputGrad, job.fuseSoftmax, ws.kernels);
  const correct = countCorrect(n, width, ws.output, targets);
  ws.backward(slot, job.fuseSoftmax);
  return { lossSum, correct, count: n };
}
