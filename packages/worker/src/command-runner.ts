import {
  type BlockSum, CnnError, type KernelSet, type Loss, type Optimizer, type StepJob, type Tensor, type Workspace,
  combineBlocks, combineSubtree, sumBlock,
} from '@cnn/core';
import type { BlockResult, HostSetup } from './protocol.js';
import { Phase2, type ReceivedCommand, type StepChannel, type ThreadTimer } from './step-channel.js';

/** A thread asked (by CNN_THREAD_FAULT) to exit: its serve loop ends the process of the thread. */
export class ExitRequested extends Error {}

export interface RunnerContext {
  readonly setup: HostSetup;
  readonly channel: StepChannel;
  readonly training: Workspace;
  readonly kernels: KernelSet;
  readonly loss: Loss;
  readonly optimizer: Optimizer | null;
  readonly x: Tensor | null;
  readonly y: Tensor | null;
  /** Phase-2 parameter ranges, the same list on every thread. */
  readonly ranges: readonly (readonly [number, number])[];
  /** The range this thread claims first (its index among the host's threads): see StepChannel.claimRange. */
  readonly home: number;
  readonly timer: ThreadTimer | null;
  /** Whether CNN_THREAD_FAULT applies here (worker threads; the main thread never injects). */
  readonly injectsFaults: boolean;
}

/**
 * How any thread of a host — a worker or the main thread — takes part in a training command: claim
 * blocks and sum them into the shared result buffers, then (after the barrier, which the caller
 * waits at in its own way) claim parameter ranges and combine there, into pieces or into the gradient
 * followed by the update. One implementation for every participant.
 */
export class CommandRunner {
  readonly #c: RunnerContext;

  constructor(context: RunnerContext) {
    this.#c = context;
  }

  get loss(): Loss {
    return this.#c.loss;
  }

  /** Phase 1: claims blocks until none is left. */
  blocks(c: ReceivedCommand): void {
    const { channel, timer, kernels, setup } = this.#c;
    if (!c.compute) return;
    for (let i = channel.claimBlock(c); i >= 0; i = channel.claimBlock(c)) {
      timer?.blockClaimed();
      let stats = this.#sumOne(c, i);
      if (c.checkFinite && !(Number.isFinite(stats.lossSum) && kernels.allFinite(setup.results[c.blocks[i].result]))) {
        stats = { ...stats, lossSum: Number.NaN };
      }
      timer?.blockSummed();
      channel.blockDone(c, i, stats);
    }
  }

  /** Phase 2: claims parameter ranges until none is left; every block must be summed already. */
  ranges(c: ReceivedCommand): void {
    const { channel, timer, setup, kernels } = this.#c;
    if (c.phase2 === Phase2.none) return;
    timer?.phase2Started();
    const blocks: BlockSum[] = c.blocks.map((b) => ({ start: b.start, len: b.len, grad: setup.results[b.result], lossSum: 0, correct: 0, count: 0 }));
    // Every block is summed and marked by now (the barrier), so every thread decides alike.
    const refused = c.checkFinite && c.phase2 === Phase2.update && c.blocks.some((_, i) => !Number.isFinite(channel.blockLoss(i)));
    const home = this.#c.home;
    for (let r = channel.claimRange(c, home); r >= 0; r = channel.claimRange(c, home)) {
      const [begin, end] = this.#c.ranges[r];
      timer?.rangeClaimed();
      if (refused) {
        timer?.combined();
      } else if (c.phase2 === Phase2.update) {
        const root = combineBlocks(blocks, c.shards, begin, end, kernels.addInto);
        timer?.combined();
        kernels.applyUpdate(this.#c.optimizer!, setup.params, root.grad, setup.slots, c.batchSize, c.step + 1, begin, end);
      } else {
        for (const piece of c.pieces) {
          const inside = blocks.filter((b) => b.start >= piece.start && b.start < piece.start + piece.len);
          combineSubtree(inside, c.shards, piece.start, piece.len, begin, end, kernels.addInto);
        }
        timer?.combined();
      }
      timer?.rangeFinished(c.phase2 === Phase2.update);
      channel.rangeDone(c);
    }
  }

  /** Sums block i of the command straight into its shared result buffer: no copy of the gradient. */
  #sumOne(c: ReceivedCommand, i: number): BlockResult {
    const { setup, x, y, training } = this.#c;
    if (!x || !y) throw new CnnError('CNN_ERR_BAD_THREAD_MESSAGE', 'a training command needs the training set, and this pool has none');
    if (this.#c.injectsFaults && setup.fault?.step === c.step) {
      if (setup.fault.kind === 'exit') throw new ExitRequested();
      throw new CnnError('CNN_ERR_INJECTED_FAULT', `fault injected at step ${c.step + 1}`);
    }
    const b = c.blocks[i];
    const job: StepJob = {
      x, y, indices: c.shuffled ? setup.order : null, batchStart: c.batchStart, batchSize: c.batchSize,
      microBatch: setup.microBatch, seed: setup.seed, step: c.step, loss: this.#c.loss, fuseSoftmax: setup.fuseSoftmax,
    };
    training.bindSlot(0, setup.results[b.result]);
    const sum = sumBlock(training, job, b.start, b.len);
    if (!sum) throw new CnnError('CNN_ERR_BAD_THREAD_MESSAGE', `block [${b.start}, +${b.len}) holds no shard of a batch of ${c.batchSize}`);
    return { lossSum: sum.lossSum, correct: sum.correct, count: sum.count };
  }
}
