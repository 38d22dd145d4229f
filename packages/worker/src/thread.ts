/**
 * A worker thread of a host (the piscina worker module). Threads outlive pools (worker-threads.ts):
 * each task comes with its pool's setup, and the thread attaches to that pool's shared memory the
 * first time it sees it, keeping its workspaces until a task names another pool. Training runs in
 * `serve`, a loop over the doorbell (StepChannel) that takes part in each command as the main thread
 * does (CommandRunner). Evaluation and prediction come as ordinary tasks (`infer`).
 */
import {
  Arena, CnnError, type Loss, Workspace, attachProcessHeap, networkFromTopology, processKernels, resolveLoss, resolveOptimizer,
} from '@cnn/core';
import { CommandRunner, ExitRequested } from './command-runner.js';
import { runInferenceTask } from './inference-task.js';
import { splitRange } from './plan.js';
import { type BlockResult, type HostSetup, decodeEnvelope, decodeInferenceTask, decodeServeTask } from './protocol.js';
import { tensorOf } from './shared-tensor.js';
import { Kind, Phase2, StepChannel, type ThreadTimer } from './step-channel.js';
import { threadRequests } from './thread-workspaces.js';

/** What this thread holds for one pool. */
interface Attached {
  readonly setup: HostSetup;
  readonly loss: Loss;
  readonly channel: StepChannel;
  readonly runner: CommandRunner;
  readonly inference: Workspace;
  /** Null unless the pool was started with timings: then this thread stamps its row of the channel. */
  readonly timer: ThreadTimer | null;
}

let attached: Attached | null = null;

function attach(setup: HostSetup): Attached {
  // Every buffer this thread touches lives in the host's heap.
  const heap = attachProcessHeap(setup.heap);
  const kernels = processKernels();
  if (kernels.id !== setup.kernelsId) {
    throw new CnnError('CNN_ERR_KERNELS_MISMATCH', `this thread runs kernels ${kernels.id}, the host ${setup.kernelsId}: every thread must run the same`);
  }
  const network = networkFromTopology(setup.modelConfig);
  const loss = resolveLoss(setup.loss);
  const optimizer = setup.optimizer && resolveOptimizer(setup.optimizer);
  const channel = new StepChannel(setup.channel, setup.maxBlocks);
  const threadIndex = Atomics.add(setup.claims, 0, 1);
  const region = setup.regions[threadIndex];
  if (!region) throw new CnnError('CNN_ERR_POOL_CLOSED', 'no workspace region left for this thread (more threads attached than the pool has)');
  const arena = new Arena(heap.bufferCovering(region.offset + region.bytes), region.offset, region.bytes);
  const requests = threadRequests(network, setup.microBatch, setup.longestBlock);
  const training = new Workspace(network, setup.params, { capacity: setup.microBatch, training: true, gradSlots: requests.trainingSlots }, arena.allocAll(requests.training), kernels);
  const inference = new Workspace(network, setup.params, { capacity: setup.inferenceCapacity, training: false, gradSlots: 0 }, arena.allocAll(requests.inference), kernels);
  const timer = channel.timer(threadIndex);
  const runner = new CommandRunner({
    setup, channel, training, kernels, loss, optimizer, x: setup.x && tensorOf(setup.x), y: setup.y && tensorOf(setup.y),
    ranges: splitRange(setup.params.length, setup.threads), home: threadIndex, timer, injectsFaults: true,
  });
  return { setup, loss, channel, runner, inference, timer };
}

/** The pool a message belongs to, attached on first sight, and the task it carries. */
function open(message: unknown): { pool: Attached; task: unknown } {
  const { setup, task } = decodeEnvelope(message);
  if (attached?.setup.id !== setup.id) {
    attached = null;
    attached = attach(setup);
  }
  return { pool: attached, task };
}

/** Serves training commands until told to stop; a failure is reported through the channel. */
export function serve(message: unknown): null {
  const { pool, task } = open(message);
  const { channel, runner, setup } = pool;
  let seen = decodeServeTask(task).seen;
  for (;;) {
    const c = channel.next(seen, setup.spinMs);
    seen = c.seq;
    if (c.kind === Kind.stop) return null;
    pool.timer?.wake(c.seq);
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
  const { pool, task } = open(message);
  return runInferenceTask(pool.inference, decodeInferenceTask(task), pool.loss, pool.setup.fuseSoftmax);
}
