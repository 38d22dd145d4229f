/**
 * The thread strategy of @cnn/worker with the pool's command timings on: the same HostPool calls as
 * ThreadStrategy (one trainStep command per step over the whole tree, stats combined in tree order),
 * so the arithmetic and the bits are the same; only the pool is started with `timings: true` and its
 * timings stay readable after fit closed the pool.
 */
import { combineBlocks, shardCount } from '@cnn/core';
import { HostPool, wholeTree } from '@cnn/worker';

export class TimedThreads {
  /** The pool's CommandTiming records of the last prepare() (null before). */
  timings = null;
  #pool;

  constructor(threads) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
    this.threads = threads;
    this.name = `threads(${threads}) with pool timings`;
  }

  async prepare(setup) {
    await this.close();
    this.#pool = HostPool.start({
      threads: this.threads, modelConfig: setup.modelConfig, network: setup.network, params: setup.params,
      loss: setup.loss, fuseSoftmax: setup.fuseSoftmax, microBatch: setup.microBatch, seed: setup.seed,
      maxShards: shardCount(setup.maxBatchSize, setup.microBatch), x: setup.x, y: setup.y,
      optimizer: setup.optimizer, slots: setup.slots, timings: true,
    });
    this.timings = this.#pool.timings;
  }

  async setOrder(order) {
    this.#pool.setOrder(order);
  }

  async trainStep(request) {
    const shards = shardCount(request.batchSize, this.#pool.microBatch);
    const blocks = await this.#pool.trainStep(request, wholeTree(shards));
    const stats = combineBlocks(blocks, shards, 0, 0);
    return { lossSum: stats.lossSum, correct: stats.correct, count: stats.count };
  }

  evaluate(x, y) {
    return this.#pool.evaluate(x, y);
  }

  predict(x) {
    return this.#pool.predict(x);
  }

  async close() {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.close();
  }
}
