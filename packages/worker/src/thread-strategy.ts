import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  type BlockSum, CnnError, type ShardStats, type Strategy, type StepRequest, type Tensor, type TrainingSetup,
  combineBlocks, shardCount,
} from '@cnn/core';
import { Piscina } from 'piscina';
import { type HostSetup, type InferenceTask, type UpdateTask, decodeBlockResult } from './protocol.js';
import { planBlocks, planLimits, splitRange } from './plan.js';
import { type SharedTensor, shareTensor } from './shared-tensor.js';

export interface ThreadOptions {
  /** Worker threads (default: every core the process may use). */
  threads?: number;
}

/** Rows per inference task: big enough to amortise a dispatch, small enough to balance threads. */
const INFERENCE_ROWS_PER_TASK = 1024;

const THREAD_MODULE = fileURLToPath(new URL('./thread.js', import.meta.url));

/**
 * Fault injection for tests that prove a failing thread ends fit cleanly: `CNN_THREAD_FAULT=throw@5`
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

/**
 * Data parallelism over the cores of one machine. Worker threads attach to the parameters, optimizer
 * state, data set and result buffers in shared memory once; a step sends each a few numbers: which
 * aligned block of the reduction tree to sum (straight into a shared result buffer), then which
 * range of the parameters to combine the blocks over and update. Both phases run on all threads,
 * and both give the bits of the single-thread strategy, whatever the thread count.
 */
export class ThreadStrategy implements Strategy {
  readonly name: string;
  readonly threads: number;
  #pool: Piscina | undefined;
  #setup: TrainingSetup | undefined;
  #host: HostSetup | undefined;
  #shuffled = false;

  constructor(options: ThreadOptions = {}) {
    const n = options.threads ?? availableParallelism();
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`options.threads must be a positive integer, got ${String(n)}`);
    this.threads = n;
    this.name = `threads(${n})`;
  }

  async prepare(setup: TrainingSetup): Promise<void> {
    await this.close();
    for (const [what, a] of [['params', setup.params], ...setup.slots.map((s, i) => [`optimizer slot ${i}`, s] as const)] as const) {
      if (!(a.buffer instanceof SharedArrayBuffer)) throw new CnnError('CNN_ERR_NOT_SHARED', `threads: the model's ${what} must live in a SharedArrayBuffer`);
    }
    const { blocks, longest } = planLimits(shardCount(setup.maxBatchSize, setup.microBatch), this.threads);
    const p = setup.network.paramCount;
    const resultMemory = new SharedArrayBuffer(blocks * p * 4);
    const x = setup.x && shareTensor(setup.x);
    this.#host = {
      modelConfig: setup.modelConfig,
      params: setup.params,
      slots: setup.slots,
      optimizer: { className: setup.optimizer.className, config: setup.optimizer.getConfig() },
      loss: setup.loss.getConfig(),
      fuseSoftmax: setup.fuseSoftmax,
      microBatch: setup.microBatch,
      seed: setup.seed,
      longestBlock: longest,
      results: Array.from({ length: blocks }, (_, i) => new Float32Array(resultMemory, i * p * 4, p)),
      order: new Int32Array(new SharedArrayBuffer((x?.shape[0] ?? 0) * 4)),
      x,
      y: setup.y && shareTensor(setup.y),
      fault: faultFromEnv(),
    };
    this.#setup = setup;
    this.#pool = new Piscina({
      filename: THREAD_MODULE,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: this.#host,
    });
  }

  async setOrder(order: Int32Array | null): Promise<void> {
    const host = this.#requireHost();
    if (order) host.order.set(order);
    this.#shuffled = order !== null;
  }

  async trainStep(request: StepRequest): Promise<ShardStats> {
    const host = this.#requireHost();
    const shards = shardCount(request.batchSize, host.microBatch);
    const blocks = planBlocks(shards, this.threads).map((b, result) => ({ ...b, result }));
    const results = await this.#all(request.step, 'block', blocks.map((b) => ({
      step: request.step, batchStart: request.batchStart, batchSize: request.batchSize, shuffled: this.#shuffled,
      blockStart: b.start, blockLen: b.len, result: b.result,
    })));
    // Stats combine in tree order on this thread (no gradient elements: an empty range).
    const sums: BlockSum[] = blocks.map((b, i) => ({ ...b, grad: host.results[b.result], ...decodeBlockResult(results[i]) }));
    const stats = combineBlocks(sums, shards, 0, 0);
    const updates: UpdateTask[] = splitRange(host.params.length, this.threads).map(([begin, end]) => ({
      step: request.step, batchSize: request.batchSize, shards, blocks, begin, end,
    }));
    await this.#all(request.step, 'update', updates);
    return { lossSum: stats.lossSum, correct: stats.correct, count: stats.count };
  }

  async evaluate(x: Tensor, y: Tensor): Promise<ShardStats> {
    const sx = shareTensor(x);
    const sy = shareTensor(y);
    const parts = await this.#inference(sx, sy, null);
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
    const setup = this.#requireSetup();
    const out = new Float32Array(new SharedArrayBuffer(x.shape[0] * setup.network.outputSize * 4));
    await this.#inference(shareTensor(x), null, out);
    return out;
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    this.#host = undefined;
    if (pool) await pool.destroy();
  }

  async #inference(x: SharedTensor, y: SharedTensor | null, out: Float32Array | null): Promise<unknown[]> {
    const rows = x.shape[0];
    const tasks: InferenceTask[] = [];
    for (let start = 0; start < rows; start += INFERENCE_ROWS_PER_TASK) {
      tasks.push({ x, y, start, count: Math.min(INFERENCE_ROWS_PER_TASK, rows - start), out });
    }
    return this.#all(null, 'infer', tasks);
  }

  /** Runs tasks on the pool; the first failure closes the pool and ends the step with the cause. */
  async #all(step: number | null, name: string, tasks: readonly object[]): Promise<unknown[]> {
    const pool = this.#pool;
    if (!pool) throw new CnnError('CNN_ERR_POOL_CLOSED', 'threads: the worker pool is closed (a thread failed earlier, or fit ended)');
    try {
      return await Promise.all(tasks.map((t) => pool.run(t, { name })));
    } catch (e) {
      await this.close();
      const where = step === null ? `during ${name === 'infer' ? 'evaluation' : name}` : `at step ${step + 1} (${name === 'block' ? 'computing gradients' : 'updating parameters'})`;
      const cause = e instanceof Error ? e.message : String(e);
      throw new CnnError('CNN_ERR_THREAD_FAILED', `A worker thread failed ${where}: ${cause}. The worker pool is closed.`, { cause: e });
    }
  }

  #requireHost(): HostSetup {
    if (!this.#host) throw new CnnError('CNN_ERR_POOL_CLOSED', 'threads: the worker pool is closed (a thread failed earlier, or fit ended)');
    return this.#host;
  }

  #requireSetup(): TrainingSetup {
    if (!this.#setup) throw new Error('strategy used before prepare()');
    return this.#setup;
  }
}

/** The strategy of `model.fit(x, y, { strategy: threads(4) })`: all cores by default. */
export function threads(options?: number | ThreadOptions): ThreadStrategy {
  return new ThreadStrategy(typeof options === 'number' ? { threads: options } : options);
}
