import { fileURLToPath } from 'node:url';
import {
  type BlockSum, CnnError, type Loss, type Network, type Optimizer, type ShardStats, type StepRequest, type Tensor,
  shardCount, treeSpan,
} from '@cnn/core';
import { Piscina } from 'piscina';
import { type BlockRef, type BlockTask, type CombineTask, type HostSetup, type InferenceTask, type ResultBuffer, type UpdateTask, decodeBlockResult } from './protocol.js';
import { type Span, planBlocks, splitRange } from './plan.js';
import { type SharedTensor, shareTensor } from './shared-tensor.js';

const THREAD_MODULE = fileURLToPath(new URL('./thread.js', import.meta.url));

/** Rows per inference task: big enough to amortise a dispatch, small enough to balance threads. */
const INFERENCE_ROWS_PER_TASK = 1024;

/**
 * Fault injection for tests that prove a failing thread ends work cleanly: `CNN_THREAD_FAULT=throw@5`
 * makes a worker throw when asked for a block of step 5, `exit@5` makes it exit.
 */
export const FAULT_ENV = 'CNN_THREAD_FAULT';

function faultFromEnv(): HostSetup['fault'] {
  const spec = process.env[FAULT_ENV];
  if (!spec) return null;
  const m = /^(throw|exit)@(\d+)$/.exec(spec);
  if (!m) throw new CnnError('CNN_ERR_BAD_CONFIG', `${FAULT_ENV}=${spec}: expected throw@STEP or exit@STEP`);
  return { kind: m[1] as 'throw' | 'exit', step: Number(m[2]) - 1 };
}

export interface HostPoolOptions {
  readonly threads: number;
  readonly modelConfig: unknown;
  readonly network: Network;
  /** The parameters the threads read (shared); a pool that updates writes them too. */
  readonly params: Float32Array;
  readonly loss: Loss;
  readonly fuseSoftmax: boolean;
  readonly microBatch: number;
  readonly seed: number;
  /** Most shards a step will have (sizes each thread's reduction stack). */
  readonly maxShards: number;
  readonly x: Tensor | null;
  readonly y: Tensor | null;
  /** Given, the pool can also combine a step's blocks and apply the update (combineAndUpdate). */
  readonly optimizer?: Optimizer;
  readonly slots?: readonly Float32Array[];
}

/** Where a failure happened, for the error that ends the work. */
type Phase = { step: number | null; what: string };

/**
 * The worker threads of one host over shared memory: the parameters, the optimizer state, the
 * data set and the result buffers are shared once; tasks are a few numbers. A pool computes the
 * blocks of a step's tree, combines them (into pieces for another host, or into the step's gradient,
 * then updates the parameters), and evaluates or predicts, every phase spread over all threads.
 */
export class HostPool {
  readonly threads: number;
  readonly network: Network;
  readonly params: Float32Array;
  readonly #setup: HostSetup;
  #pool: Piscina | undefined;
  readonly #results: ResultBuffer[] = [];
  #shuffled = false;

  private constructor(options: HostPoolOptions, setup: HostSetup) {
    this.threads = options.threads;
    this.network = options.network;
    this.params = options.params;
    this.#setup = setup;
    this.#pool = new Piscina({
      filename: THREAD_MODULE,
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: setup,
    });
  }

  static start(o: HostPoolOptions): HostPool {
    if (!Number.isInteger(o.threads) || o.threads < 1) throw new RangeError(`options.threads must be a positive integer, got ${String(o.threads)}`);
    const shared: [string, Float32Array][] = [['params', o.params], ...(o.slots ?? []).map((s, i): [string, Float32Array] => [`optimizer slot ${i}`, s])];
    for (const [what, a] of shared) {
      if (!(a.buffer instanceof SharedArrayBuffer)) throw new CnnError('CNN_ERR_NOT_SHARED', `host pool: the model's ${what} must live in a SharedArrayBuffer`);
    }
    const x = o.x && shareTensor(o.x);
    return new HostPool(o, {
      modelConfig: o.modelConfig,
      params: o.params,
      slots: o.slots ?? [],
      optimizer: o.optimizer ? { className: o.optimizer.className, config: o.optimizer.getConfig() } : null,
      loss: o.loss.getConfig(),
      fuseSoftmax: o.fuseSoftmax,
      microBatch: o.microBatch,
      seed: o.seed,
      longestBlock: treeSpan(o.maxShards),
      order: new Int32Array(new SharedArrayBuffer((x?.shape[0] ?? 0) * 4)),
      x,
      y: o.y && shareTensor(o.y),
      fault: faultFromEnv(),
    });
  }

  get closed(): boolean {
    return this.#pool === undefined;
  }

  get microBatch(): number {
    return this.#setup.microBatch;
  }

  /** The epoch's sample order (null: natural order), read by every thread. */
  setOrder(order: Int32Array | null): void {
    if (order) this.#setup.order.set(order);
    this.#shuffled = order !== null;
  }

  /**
   * Computes the given pieces (aligned subtrees) of a step, cut into blocks for the threads. Resolves
   * to the blocks' sums, whose gradients sit in the pool's result buffers until the next call.
   */
  async computeBlocks(request: StepRequest, pieces: readonly Span[]): Promise<BlockSum[]> {
    const shards = shardCount(request.batchSize, this.#setup.microBatch);
    const blocks = planBlocks(pieces, shards, this.threads);
    this.#ensureResults(blocks.length);
    const tasks: BlockTask[] = blocks.map((b, i) => ({
      step: request.step, batchStart: request.batchStart, batchSize: request.batchSize, shuffled: this.#shuffled,
      blockStart: b.start, blockLen: b.len, result: this.#results[i],
    }));
    const stats = await this.#run({ step: request.step, what: 'computing gradients' }, 'block', tasks);
    return blocks.map((b, i) => ({ ...b, grad: this.#results[i].grad, ...decodeBlockResult(stats[i]) }));
  }

  /** Combines block sums (from computeBlocks) into each piece, over all threads; resolves to the pieces' sums. */
  async combinePieces(blocks: readonly BlockSum[], pieces: readonly Span[], shards: number, step: number): Promise<BlockSum[]> {
    const refs = this.#refs(blocks);
    const tasks: CombineTask[] = splitRange(this.params.length, this.threads).map(([begin, end]) => ({ shards, blocks: refs, pieces, begin, end }));
    await this.#run({ step, what: 'combining gradients' }, 'combine', tasks);
    return pieces.map((p) => {
      const inside = blocks.filter((b) => b.start >= p.start && b.start < p.start + p.len);
      const sum = inside.reduce((a, b) => ({ lossSum: a.lossSum + b.lossSum, correct: a.correct + b.correct, count: a.count + b.count }), { lossSum: 0, correct: 0, count: 0 });
      return { ...p, grad: inside.reduce((a, b) => (a.start < b.start ? a : b)).grad, ...sum };
    });
  }

  /** Combines the step's block sums into its gradient and applies update number step + 1, over all threads. */
  async combineAndUpdate(blocks: readonly BlockSum[], shards: number, request: StepRequest): Promise<void> {
    if (!this.#setup.optimizer) throw new Error('combineAndUpdate needs a pool started with an optimizer');
    const refs = this.#refs(blocks);
    const tasks: UpdateTask[] = splitRange(this.params.length, this.threads).map(([begin, end]) => ({
      step: request.step, batchSize: request.batchSize, shards, blocks: refs, begin, end,
    }));
    await this.#run({ step: request.step, what: 'updating parameters' }, 'update', tasks);
  }

  async evaluate(x: Tensor, y: Tensor): Promise<ShardStats> {
    const parts = await this.#inference(shareTensor(x), shareTensor(y), null);
    const total: ShardStats = { lossSum: 0, correct: 0, count: 0 };
    for (const part of parts) {
      const r = decodeBlockResult(part);
      total.lossSum += r.lossSum;
      total.correct += r.correct;
      total.count += r.count;
    }
    return total;
  }

  async predict(x: Tensor): Promise<Float32Array> {
    const out = new Float32Array(new SharedArrayBuffer(x.shape[0] * this.network.outputSize * 4));
    await this.#inference(shareTensor(x), null, out);
    return out;
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await pool.destroy();
  }

  #refs(blocks: readonly BlockSum[]): BlockRef[] {
    return blocks.map((b) => {
      const result = this.#results.find((r) => r.grad === b.grad);
      if (!result) throw new Error(`block [${b.start}, +${b.len}) is not in one of this pool's result buffers`);
      return { start: b.start, len: b.len, result };
    });
  }

  #ensureResults(count: number): void {
    const p = this.params.length;
    while (this.#results.length < count) {
      this.#results.push({ id: this.#results.length, grad: new Float32Array(new SharedArrayBuffer(p * 4)) });
    }
  }

  async #inference(x: SharedTensor, y: SharedTensor | null, out: Float32Array | null): Promise<unknown[]> {
    const rows = x.shape[0];
    const tasks: InferenceTask[] = [];
    for (let start = 0; start < rows; start += INFERENCE_ROWS_PER_TASK) {
      tasks.push({ x, y, start, count: Math.min(INFERENCE_ROWS_PER_TASK, rows - start), out });
    }
    return this.#run({ step: null, what: out ? 'predicting' : 'evaluating' }, 'infer', tasks);
  }

  /** Runs tasks on the pool; the first failure closes the pool and rejects with the cause. */
  async #run(phase: Phase, name: string, tasks: readonly object[]): Promise<unknown[]> {
    const pool = this.#pool;
    if (!pool) throw new CnnError('CNN_ERR_POOL_CLOSED', 'the worker pool is closed (a thread failed earlier, or the work ended)');
    try {
      return await Promise.all(tasks.map((t) => pool.run(t, { name })));
    } catch (e) {
      await this.close();
      const where = phase.step === null ? `while ${phase.what}` : `at step ${phase.step + 1} (${phase.what})`;
      const cause = e instanceof Error ? e.message : String(e);
      throw new CnnError('CNN_ERR_THREAD_FAILED', `A worker thread failed ${where}: ${cause}. The worker pool is closed.`, { cause: e });
    }
  }
}
