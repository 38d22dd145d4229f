/**
 * A worker thread of a host (the piscina worker module). It attaches to the host's shared memory once,
 * when the module loads. Training runs in `serve`, a loop over the doorbell (StepChannel): claim blocks
 * of the step's tree and sum them into shared result buffers, then claim ranges of the parameters and
 * combine the blocks there (into pieces, or into the gradient followed by the update). Evaluation and
 * prediction come as ordinary tasks (`infer`).
 */
import { workerData } from 'node:worker_threads';
import {
  Arena, type BlockSum, CnnError, type StepJob, Workspace, attachProcessHeap, combineBlocks, combineSubtree, evaluateRows,
  forwardRows, networkFromTopology, processKernels, resolveLoss, resolveOptimizer, sumBlock,
} from '@cnn/core';
import { splitRange } from './plan.js';
import { type BlockResult, type HostSetup, decodeInferenceTask, decodeServeTask } from './protocol.js';
import { tensorOf } from './shared-tensor.js';
import { Kind, Phase2, type ReceivedCommand, StepChannel } from './step-channel.js';
import { threadRequests } from './thread-workspaces.js';

const setup = workerData as HostSetup;
// First of all: every buffer this thread touches lives in the host's heap.
const heap = attachProcessHeap(setup.heap);
const kernels = processKernels();
if (kernels.id !== setup.kernelsId) {
  throw new CnnError('CNN_ERR_KERNELS_MISMATCH', `this thread runs kernels ${kernels.id}, the host ${setup.kernelsId}: every thread must run the same`);
}
const network = networkFromTopology(setup.modelConfig);
const loss = resolveLoss(setup.loss);
const optimizer = setup.optimizer && resolveOptimizer(setup.optimizer);
const x = setup.x && tensorOf(setup.x);
const y = setup.y && tensorOf(setup.y);
const channel = new StepChannel(setup.channel, setup.maxBlocks);
const ranges = splitRange(setup.params.length, setup.threads);
const threadIndex = Atomics.add(setup.claims, 0, 1);
const region = setup.regions[threadIndex];
if (!region) throw new CnnError('CNN_ERR_POOL_CLOSED', 'no workspace region left for this thread (a thread was restarted after a failure)');
/** Null unless the pool was started with timings: then this thread stamps its row of the channel. */
const timer = channel.timer(threadIndex);
const arena = new Arena(heap.bufferCovering(region.offset + region.bytes), region.offset, region.bytes);
const requests = threadRequests(network, setup.microBatch, setup.longestBlock);
const training = new Workspace(network, setup.params, { capacity: setup.microBatch, training: true, gradSlots: requests.trainingSlots }, arena.allocAll(requests.training), kernels);
const inference = new Workspace(network, setup.params, { capacity: setup.inferenceCapacity, training: false, gradSlots: 0 }, arena.allocAll(requests.inference), kernels);

/** Serves training commands until told to stop; a failure is reported through the channel. */
export function serve(message: unknown): null {
  let seen = decodeServeTask(message).seen;
  for (;;) {
    const c = channel.next(seen);
    seen = c.seq;
    if (c.kind === Kind.stop) return null;
    timer?.wake(c.seq);
    try {
      run(c);
    } catch (e) {
      if (e instanceof ExitRequested) process.exit(3);
      channel.fail(e instanceof Error ? e.message : String(e));
    }
  }
}

class ExitRequested extends Error {}

function run(c: ReceivedCommand): void {
  if (c.compute) {
    for (let i = channel.claimBlock(c); i >= 0; i = channel.claimBlock(c)) {
      timer?.blockClaimed();
      const stats = sumOne(c, i);
      timer?.blockSummed();
      channel.blockDone(c, i, stats);
    }
  }
  if (c.phase2 === Phase2.none || !channel.awaitBlocks(c)) return;
  timer?.phase2Started();
  const blocks: BlockSum[] = c.blocks.map((b) => ({ start: b.start, len: b.len, grad: setup.results[b.result], lossSum: 0, correct: 0, count: 0 }));
  for (let r = channel.claimRange(c); r >= 0; r = channel.claimRange(c)) {
    const [begin, end] = ranges[r];
    timer?.rangeClaimed();
    if (c.phase2 === Phase2.update) {
      const root = combineBlocks(blocks, c.shards, begin, end, kernels.addInto);
      timer?.combined();
      kernels.applyUpdate(optimizer!, setup.params, root.grad, setup.slots, c.batchSize, c.step + 1, begin, end);
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
function sumOne(c: ReceivedCommand, i: number): BlockResult {
  if (!x || !y) throw new CnnError('CNN_ERR_BAD_THREAD_MESSAGE', 'a training command needs the training set, and this pool has none');
  if (setup.fault?.step === c.step) {
    if (setup.fault.kind === 'exit') throw new ExitRequested();
    throw new CnnError('CNN_ERR_INJECTED_FAULT', `fault injected at step ${c.step + 1}`);
  }
  const b = c.blocks[i];
  const job: StepJob = {
    x, y, indices: c.shuffled ? setup.order : null, batchStart: c.batchStart, batchSize: c.batchSize,
    microBatch: setup.microBatch, seed: setup.seed, step: c.step, loss, fuseSoftmax: setup.fuseSoftmax,
  };
  training.bindSlot(0, setup.results[b.result]);
  const sum = sumBlock(training, job, b.start, b.len);
  if (!sum) throw new CnnError('CNN_ERR_BAD_THREAD_MESSAGE', `block [${b.start}, +${b.len}) holds no shard of a batch of ${c.batchSize}`);
  return { lossSum: sum.lossSum, correct: sum.correct, count: sum.count };
}

export function infer(message: unknown): BlockResult | null {
  const task = decodeInferenceTask(message);
  const rows = tensorOf(task.x);
  if (task.out) {
    forwardRows(inference, rows, task.start, task.count, task.out, task.start * network.outputSize);
    return null;
  }
  if (!task.y) throw new CnnError('CNN_ERR_BAD_THREAD_MESSAGE', 'an evaluation task needs y');
  return evaluateRows(inference, rows, tensorOf(task.y), loss, setup.fuseSoftmax, task.start, task.count);
}
