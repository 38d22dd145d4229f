import { fileURLToPath } from 'node:url';
import {
  type BlockSum, CnnError, type HeapArena, type Loss, type Network, type Optimizer, type ShardStats, type StepRequest, type Tensor,
  bytesFor, heapArena, processHeap, processKernels, shardCount, treeSpan,
} from '@cnn/core';
import { Piscina } from 'piscina';
import { type BlockRef, type BlockTask, type CombineTask, type HostSetup, type InferenceTask, type ResultBuffer, type UpdateTask, decodeBlockResult } from './protocol.js';
import { type Span, planBlocks, splitRange } from './plan.js';
import { type SharedTensor, shareTensor } from './shared-tensor.js';
import { THREAD_INFERENCE_CAPACITY, threadRequests } from './thread-workspaces.js';

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
  /** Result buffers, handed out in order within a step (a second order of the same step gets new ones). */
  readonly #results: ResultBuffer[] = [];
  readonly #resultArenas: HeapArena[] = [];
  readonly #regions: HeapArena[];
  #cursorStep = -1;
  #cursor = 0;
  #shuffled = false;

  private constructor(options: HostPoolOptions, setup: HostSetup, regions: HeapArena[]) {
    this.threads = options.threads;
    this.network = options.network;
    this.params = options.params;
    this.#setup = setup;
    this.#regions = regions;
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
    const heap = processHeap();
    const shared: [string, Float32Array][] = [['params', o.params], ...(o.slots ?? []).map((s, i): [string, Float32Array] => [`optimizer slot ${i}`, s])];
    for (const [what, a] of shared) {
      if (!heap.owns(a)) throw new CnnError('CNN_ERR_NOT_IN_HEAP', `host pool: the model's ${what} must be allocated from the kernel heap (a Sequential's are)`);
    }
    const x = o.x && shareTensor(o.x);
    // Each thread's workspaces are carved here, on the heap's owning thread, so they can be freed.
    const { training, inference } = threadRequests(o.network, o.microBatch, o.maxShards);
    const regionBytes = bytesFor(training) + bytesFor(inference);
    const regions = Array.from({ length: o.threads }, () => heapArena(regionBytes));
    return new HostPool(o, {
      heap: heap.memory,
      kernelsId: processKernels().id,
      regions: regions.map((r) => ({ offset: r.byteOffset, bytes: r.byteLength })),
      claims: new Int32Array(new SharedArrayBuffer(4)),
      inferenceCapacity: THREAD_INFERENCE_CAPACITY,
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
    }, regions);
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
   * to the blocks' sums, whose gradients stay in the pool's result buffers until a later step reuses them.
   */
  async computeBlocks(request: StepRequest, pieces: readonly Span[]): Promise<BlockSum[]> {
    const shards = shardCount(request.batchSize, this.#setup.microBatch);
    const blocks = planBlocks(pieces, shards, this.threads);
    const results = this.#takeResults(request.step, blocks.length);
    const tasks: BlockTask[] = blocks.map((b, i) => ({
      step: request.step, batchStart: request.batchStart, batchSize: request.batchSize, shuffled: this.#shuffled,
      blockStart: b.start, blockLen: b.len, result: results[i],
    }));
    const stats = await this.#run({ step: request.step, what: 'computing gradients' }, 'block', tasks);
    return blocks.map((b, i) => ({ ...b, grad: results[i].grad, ...decodeBlockResult(stats[i]) }));
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

  /** Stops the threads, then gives their regions and the result buffers back to the heap. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (!pool) return;
    await pool.destroy();
    for (const a of [...this.#regions, ...this.#resultArenas]) a.release();
    this.#regions.length = 0;
    this.#resultArenas.length = 0;
    this.#results.length = 0;
  }

  #refs(blocks: readonly BlockSum[]): BlockRef[] {
    return blocks.map((b) => {
      const result = this.#results.find((r) => r.grad === b.grad);
      if (!result) throw new Error(`block [${b.start}, +${b.len}) is not in one of this pool's result buffers`);
      return { start: b.start, len: b.len, result };
    });
  }

  /**
   * `count` result buffers no other order of this step holds: a step's blocks stay valid until the
   * step is combined, even when the same pool computes a second share (reassigned work).
   */
  #takeResults(step: number, count: number): ResultBuffer[] {
    if (step !== this.#cursorStep) {
      this.#cursorStep = step;
      this.#cursor = 0;
    }
    const p = this.params.length;
    while (this.#results.length < this.#cursor + count) {
      const arena = heapArena(p * 4);
      this.#resultArenas.push(arena);
      this.#results.push({ id: this.#results.length, grad: arena.f32(p, 'result') });
    }
    const taken = this.#results.slice(this.#cursor, this.#cursor + count);
    this.#cursor += count;
    return taken;
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
