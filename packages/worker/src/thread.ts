/**
 * A worker thread of a host (the piscina worker module). It attaches to the host's shared memory once,
 * when the module loads. Training runs in `serve`, a loop over the doorbell (StepChannel) that takes part
 * in each command as the main thread does (CommandRunner). Evaluation and prediction come as ordinary
 * tasks (`infer`).
 */
import { workerData } from 'node:worker_threads';
import {
  Arena, CnnError, Workspace, attachProcessHeap, evaluateRows, forwardRows, networkFromTopology, processKernels, resolveLoss, resolveOptimizer,
} from '@cnn/core';
import { CommandRunner, ExitRequested } from './command-runner.js';
import { splitRange } from './plan.js';
import { type BlockResult, type HostSetup, decodeInferenceTask, decodeServeTask } from './protocol.js';
import { tensorOf } from './shared-tensor.js';
import { Kind, Phase2, StepChannel } from './step-channel.js';
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

const runner = new CommandRunner({ setup, channel, training, kernels, loss, optimizer, x, y, ranges, timer, injectsFaults: true });

/** Serves training commands until told to stop; a failure is reported through the channel. */
export function serve(message: unknown): null {
  let seen = decodeServeTask(message).seen;
  for (;;) {
    const c = channel.next(seen, setup.spinMs);
    seen = c.seq;
    if (c.kind === Kind.stop) return null;
    timer?.wake(c.seq);
    try {
      runner.blocks(c);
      if (c.phase2 !== Phase2.none && channel.awaitBlocks(c, setup.spinMs)) runner.ranges(c);
    } catch (e) {
      if (e instanceof ExitRequested) process.exit(3);
      channel.fail(e instanceof Error ? e.message : String(e));
    }
  }
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
