import { DEFAULTS } from '../defaults.js';
import { Workspace } from '../model/workspace.js';
import type { Tensor } from '../tensor.js';
import type { ShardStats, StepJob } from './gradient.js';
import { evaluateRows, forwardRows } from './inference.js';
import type { Strategy, StepRequest, TrainingSetup } from './strategy.js';
import { shardCount, slotsForBlock, sumBlock, treeSpan } from './tree.js';
import { yieldToEventLoop } from './yield.js';

export interface SingleThreadOptions {
  /**
   * A long-lived object (a model, for trainOnBatch) that keeps this strategy: its training workspace
   * then survives prepare() calls that fit it, and goes back to the heap with the owner.
   */
  owner?: object;
}

/** Everything on the calling thread: the whole tree is one block. */
export class SingleThreadStrategy implements Strategy {
  readonly name = 'single-thread';
  readonly #owner: object | undefined;
  #setup: TrainingSetup | undefined;
  #train: { ws: Workspace; network: TrainingSetup['network']; params: Float32Array; microBatch: number; gradSlots: number } | undefined;
  #infer: Workspace | undefined;
  #order: Int32Array | null = null;

  constructor(options: SingleThreadOptions = {}) {
    this.#owner = options.owner;
  }

  async prepare(setup: TrainingSetup): Promise<void> {
    const gradSlots = slotsForBlock(treeSpan(shardCount(setup.maxBatchSize, setup.microBatch)));
    const t = this.#train;
    const fits = t && t.network === setup.network && t.params === setup.params && t.microBatch === setup.microBatch && t.gradSlots >= gradSlots;
    if (!fits) {
      await this.close();
      const ws = Workspace.create(setup.network, setup.params, { capacity: setup.microBatch, training: true, gradSlots }, this.#owner);
      this.#train = { ws, network: setup.network, params: setup.params, microBatch: setup.microBatch, gradSlots };
    }
    this.#setup = setup;
    this.#order = null;
  }

  async setOrder(order: Int32Array | null): Promise<void> {
    this.#order = order;
  }

  async trainStep(request: StepRequest): Promise<ShardStats> {
    const s = this.#prepared();
    if (!s.x || !s.y) throw new Error('trainStep needs a training set in the setup');
    const job: StepJob = {
      x: s.x, y: s.y, indices: this.#order, batchStart: request.batchStart, batchSize: request.batchSize,
      microBatch: s.microBatch, seed: s.seed, step: request.step, loss: s.loss, fuseSoftmax: s.fuseSoftmax,
    };
    const span = treeSpan(shardCount(request.batchSize, s.microBatch));
    const ws = this.#train!.ws;
    const sum = sumBlock(ws, job, 0, span)!;
    ws.kernels.applyUpdate(s.optimizer, s.params, sum.grad, s.slots, request.batchSize, request.step + 1);
    return sum;
  }

  /** Chunk by chunk, letting the event loop turn in between (a coordinator keeps answering its hosts). */
  async evaluate(x: Tensor, y: Tensor): Promise<ShardStats> {
    const s = this.#prepared();
    const ws = this.#inference();
    const total: ShardStats = { lossSum: 0, correct: 0, count: 0 };
    for (let start = 0; start < x.shape[0]; start += ws.options.capacity) {
      const part = evaluateRows(ws, x, y, s.loss, s.fuseSoftmax, start, Math.min(ws.options.capacity, x.shape[0] - start));
      total.lossSum += part.lossSum;
      total.correct += part.correct;
      total.count += part.count;
      await yieldToEventLoop();
    }
    return total;
  }

  async predict(x: Tensor): Promise<Float32Array> {
    const ws = this.#inference();
    const width = ws.network.outputSize;
    const out = new Float32Array(x.shape[0] * width);
    for (let start = 0; start < x.shape[0]; start += ws.options.capacity) {
      forwardRows(ws, x, start, Math.min(ws.options.capacity, x.shape[0] - start), out, start * width);
      await yieldToEventLoop();
    }
    return out;
  }

  async close(): Promise<void> {
    this.#train?.ws.release();
    this.#infer?.release();
    this.#train = undefined;
    this.#infer = undefined;
  }

  #prepared(): TrainingSetup {
    if (!this.#setup) throw new Error('strategy used before prepare()');
    return this.#setup;
  }

  #inference(): Workspace {
    const s = this.#prepared();
    this.#infer ??= Workspace.create(s.network, s.params, { capacity: DEFAULTS.inferenceChunk, training: false, gradSlots: 0 });
    return this.#infer;
  }
}

export function singleThread(): Strategy {
  return new SingleThreadStrategy();
}
