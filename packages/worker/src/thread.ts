/**
 * A worker thread of a host (the piscina worker module). It attaches to the host's shared memory once,
 * when the module loads, and then serves tiny tasks: sum a block of the reduction tree, combine blocks
 * into pieces or into the step's gradient and apply the update, over a range of the parameters;
 * evaluate or predict some rows.
 */
import { workerData } from 'node:worker_threads';
import {
  Arena, type BlockSum, CnnError, type StepJob, Workspace, attachProcessHeap, combineBlocks, combineSubtree, evaluateRows,
  forwardRows, networkFromTopology, processKernels, resolveLoss, resolveOptimizer, sumBlock,
} from '@cnn/core';
import {
  type BlockRef, type BlockResult, type HostSetup, type ResultBuffer, decodeBlockTask, decodeCombineTask, decodeInferenceTask, decodeUpdateTask,
} from './protocol.js';
import { tensorOf } from './shared-tensor.js';
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
const region = setup.regions[Atomics.add(setup.claims, 0, 1)];
if (!region) throw new CnnError('CNN_ERR_POOL_CLOSED', 'no workspace region left for this thread (a thread was restarted after a failure)');
const arena = new Arena(heap.bufferCovering(region.offset + region.bytes), region.offset, region.bytes);
const requests = threadRequests(network, setup.microBatch, setup.longestBlock);
const training = new Workspace(network, setup.params, { capacity: setup.microBatch, training: true, gradSlots: requests.trainingSlots }, arena.allocAll(requests.training), kernels);
const inference = new Workspace(network, setup.params, { capacity: setup.inferenceCapacity, training: false, gradSlots: 0 }, arena.allocAll(requests.inference), kernels);

export function block(message: unknown): BlockResult {
  const task = decodeBlockTask(message, setup);
  if (!x || !y) throw new CnnError('CNN_ERR_BAD_THREAD_MESSAGE', 'a block task needs the training set, and this pool has none');
  if (setup.fault?.step === task.step) {
    if (setup.fault.kind === 'exit') process.exit(3);
    throw new CnnError('CNN_ERR_INJECTED_FAULT', `fault injected at step ${task.step + 1}`);
  }
  const job: StepJob = {
    x, y, indices: task.shuffled ? setup.order : null, batchStart: task.batchStart, batchSize: task.batchSize,
    microBatch: setup.microBatch, seed: setup.seed, step: task.step, loss, fuseSoftmax: setup.fuseSoftmax,
  };
  // The block's sum lands directly in the shared result buffer: no copy of the gradient.
  training.bindSlot(0, resultGrad(task.result));
  const sum = sumBlock(training, job, task.blockStart, task.blockLen);
  if (!sum) throw new CnnError('CNN_ERR_BAD_THREAD_MESSAGE', `block [${task.blockStart}, +${task.blockLen}) holds no shard of a batch of ${task.batchSize}`);
  return { lossSum: sum.lossSum, correct: sum.correct, count: sum.count };
}

const resultViews = new Map<number, Float32Array>();

/** One view object per result buffer, so the workspace's cached layer views stay valid. */
function resultGrad(ref: ResultBuffer): Float32Array {
  let view = resultViews.get(ref.id);
  if (!view) {
    view = ref.grad;
    resultViews.set(ref.id, view);
  }
  return view;
}

function sums(refs: readonly BlockRef[]): BlockSum[] {
  return refs.map((b) => ({ start: b.start, len: b.len, grad: resultGrad(b.result), lossSum: 0, correct: 0, count: 0 }));
}

export function combine(message: unknown): null {
  const task = decodeCombineTask(message, setup);
  const all = sums(task.blocks);
  for (const piece of task.pieces) {
    const inside = all.filter((b) => b.start >= piece.start && b.start < piece.start + piece.len);
    combineSubtree(inside, task.shards, piece.start, piece.len, task.begin, task.end, kernels.addInto);
  }
  return null;
}

export function update(message: unknown): null {
  const task = decodeUpdateTask(message, setup);
  const root = combineBlocks(sums(task.blocks), task.shards, task.begin, task.end, kernels.addInto);
  kernels.applyUpdate(optimizer!, setup.params, root.grad, setup.slots, task.batchSize, task.step + 1, task.begin, task.end);
  return null;
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
