import { availableParallelism } from 'node:os';
import { CnnError, type ShardStats, type Strategy, type StepRequest, type Tensor, type TrainingSetup, combineBlocks, shardCount } from '@cnn/core';
import { HostPool } from './host-pool.js';
import { wholeTree } from './plan.js';

export interface ThreadOptions {
  /** Worker threads (default: every core the process may use). */
  threads?: number;
}

/**
 * Data parallelism over the cores of one machine: a step's tree is cut into blocks that the threads
 * sum straight into shared result buffers, then every thread combines the blocks over its range of the
 * parameters and applies the update there. Both phases give the bits of the single-thread strategy,
 * whatever the thread count.
 */
export class ThreadStrategy implements Strategy {
  readonly name: string;
  readonly threads: number;
  #pool: HostPool | undefined;

  constructor(options: ThreadOptions = {}) {
    const n = options.threads ?? availableParallelism();
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`options.threads must be a positive integer, got ${String(n)}`);
    this.threads = n;
    this.name = `threads(${n})`;
  }

  async prepare(setup: TrainingSetup): Promise<void> {
    await this.close();
    this.#pool = HostPool.start({
      threads: this.threads,
      modelConfig: setup.modelConfig,
      network: setup.network,
      params: setup.params,
      loss: setup.loss,
      fuseSoftmax: setup.fuseSoftmax,
      microBatch: setup.microBatch,
      seed: setup.seed,
      maxShards: shardCount(setup.maxBatchSize, setup.microBatch),
      x: setup.x,
      y: setup.y,
      optimizer: setup.optimizer,
      slots: setup.slots,
    });
  }

  async setOrder(order: Int32Array | null): Promise<void> {
    this.#requirePool().setOrder(order);
  }

  async trainStep(request: StepRequest): Promise<ShardStats> {
    const pool = this.#requirePool();
    const shards = shardCount(request.batchSize, pool.microBatch);
    const blocks = await pool.trainStep(request, wholeTree(shards));
    // Stats combine in tree order here (an empty range of gradient elements); gradients on the threads.
    const stats = combineBlocks(blocks, shards, 0, 0);
    return { lossSum: stats.lossSum, correct: stats.correct, count: stats.count };
  }

  evaluate(x: Tensor, y: Tensor): Promise<ShardStats> {
    return this.#requirePool().evaluate(x, y);
  }

  predict(x: Tensor): Promise<Float32Array> {
    return this.#requirePool().predict(x);
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.close();
  }

  #requirePool(): HostPool {
    if (!this.#pool || this.#pool.closed) throw new CnnError('CNN_ERR_POOL_CLOSED', 'the worker pool is closed (a thread failed earlier, or fit ended)');
    return this.#pool;
  }
}

/** The strategy of `model.fit(x, y, { strategy: threads(4) })`: all cores by default. */
export function threads(options?: number | ThreadOptions): ThreadStrategy {
  return new ThreadStrategy(typeof options === 'number' ? { threads: options } : options);
}
