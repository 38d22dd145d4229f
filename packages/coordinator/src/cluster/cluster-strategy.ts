import {
  type ShardStats, SingleThreadStrategy, type StepRequest, type Strategy, type Tensor, type TrainingSetup,
  applyUpdate, combineBlocks, shardCount,
} from '@cnn/core';
import type { Logger } from 'pino';
import type { HostLink, WorkOrder, WorkResult } from './host-link.js';
import type { Membership } from './membership.js';
import { redistribute, splitShards } from './split.js';
import type { Span } from '../protocol/messages.js';

/** Per step: how long the slowest host computed and how long the step took from the coordinator. */
export interface StepTiming {
  readonly step: number;
  readonly totalMs: number;
  readonly hosts: { id: string; computeMs: number; roundTripMs: number; shards: number }[];
  readonly updateMs: number;
}

/** Where validation and prediction run: the coordinator's machine (its pool, or its main thread). */
export interface Evaluator {
  evaluate(x: Tensor, y: Tensor): Promise<ShardStats>;
  predict(x: Tensor): Promise<Float32Array>;
}

export interface ClusterStrategyOptions {
  readonly membership: Membership;
  readonly log: Logger;
  /** The coordinator's own pool, if it computes too: it evaluates; else the main thread does. */
  readonly evaluator: Evaluator | null;
  readonly onStep?: (timing: StepTiming) => void;
}

/**
 * Training across hosts: each step's tree is cut into contiguous ranges of shards, one per live host
 * in proportion to its threads; hosts return the pieces' sums; the coordinator combines them in the
 * canonical tree and applies the update. A host lost mid-step has its pieces dealt to the others
 * within the same step, so no sample is lost or counted twice, and the bits never change.
 */
export class ClusterStrategy implements Strategy {
  readonly name = 'cluster';
  readonly #o: ClusterStrategyOptions;
  #setup: TrainingSetup | undefined;
  #evaluator: Evaluator | undefined;
  #fallback: SingleThreadStrategy | undefined;
  #shuffle = true;

  constructor(options: ClusterStrategyOptions) {
    this.#o = options;
  }

  async prepare(setup: TrainingSetup): Promise<void> {
    this.#setup = setup;
    this.#evaluator = this.#o.evaluator ?? undefined;
    if (!this.#evaluator) {
      this.#fallback = new SingleThreadStrategy();
      await this.#fallback.prepare({ ...setup, x: null, y: null });
      this.#evaluator = this.#fallback;
    }
  }

  async setOrder(order: Int32Array | null): Promise<void> {
    this.#shuffle = order !== null;
    for (const host of this.#o.membership.live()) host.setOrder?.(order);
  }

  async trainStep(request: StepRequest): Promise<ShardStats> {
    const setup = this.#requireSetup();
    const started = performance.now();
    const shards = shardCount(request.batchSize, setup.microBatch);
    const results = await this.#gather(request, shards);
    const blocks = results.flatMap((r) => r.result.blocks);
    const stats = combineBlocks(blocks, shards, 0, 0);
    const updateStart = performance.now();
    const pools = new Set(results.map((r) => r.result.pool));
    const onlyPool = pools.size === 1 ? [...pools][0] : null;
    if (onlyPool) {
      // Everything came from this machine's threads: they combine and update in parallel.
      await onlyPool.combineAndUpdate(blocks, shards, request);
    } else {
      const root = combineBlocks(blocks, shards);
      applyUpdate(setup.optimizer, setup.params, root.grad, setup.slots, request.batchSize, request.step + 1);
    }
    const done = performance.now();
    this.#o.onStep?.({
      step: request.step,
      totalMs: done - started,
      updateMs: done - updateStart,
      hosts: results.map((r) => ({ id: r.host.id, computeMs: r.result.computeMs, roundTripMs: r.result.roundTripMs, shards: r.shards })),
    });
    return { lossSum: stats.lossSum, correct: stats.correct, count: stats.count };
  }

  /** Sends the step's pieces out and collects them, reassigning those of hosts lost on the way. */
  async #gather(request: StepRequest, shards: number): Promise<{ host: HostLink; result: WorkResult; shards: number }[]> {
    const setup = this.#requireSetup();
    const { membership, log } = this.#o;
    const collected: { host: HostLink; result: WorkResult; shards: number }[] = [];
    let pending: Span[] = [{ start: 0, len: shards }];
    let first = true;
    const inflight = new Set<Promise<void>>();
    while (pending.length > 0 || inflight.size > 0) {
      if (pending.length > 0) {
        const hosts = membership.live();
        if (hosts.length === 0) {
          log.warn({ step: request.step + 1 }, 'no live host: waiting for one to join');
          await membership.waitFor(1);
          continue;
        }
        const weights = hosts.map((h) => h.threads);
        const shares = first ? splitShards(shards, weights) : redistribute(pending, shards, weights);
        first = false;
        pending = [];
        shares.forEach((pieces, i) => {
          if (pieces.length === 0) return;
          const host = hosts[i];
          const order: WorkOrder = { request, shuffle: this.#shuffle, pieces, params: setup.params };
          const real = pieces.reduce((a, p) => a + Math.min(p.len, shards - p.start), 0);
          const task: Promise<void> = host.compute(order).then(
            (result) => {
              collected.push({ host, result, shards: real });
            },
            (error: unknown) => {
              log.warn({ host: host.id, step: request.step + 1, pieces: pieces.length, err: (error as Error).message }, 'host lost mid-step: reassigning its pieces');
              pending.push(...pieces);
            },
          ).finally(() => inflight.delete(task));
          inflight.add(task);
        });
      }
      if (inflight.size > 0) await Promise.race(inflight);
    }
    return collected;
  }

  evaluate(x: Tensor, y: Tensor): Promise<ShardStats> {
    if (!this.#evaluator) throw new Error('strategy used before prepare()');
    return this.#evaluator.evaluate(x, y);
  }

  predict(x: Tensor): Promise<Float32Array> {
    if (!this.#evaluator) throw new Error('strategy used before prepare()');
    return this.#evaluator.predict(x);
  }

  /** The hosts and the coordinator's pool outlive fit (they are the run's); only the fallback closes. */
  async close(): Promise<void> {
    await this.#fallback?.close();
    this.#fallback = undefined;
  }

  #requireSetup(): TrainingSetup {
    if (!this.#setup) throw new Error('strategy used before prepare()');
    return this.#setup;
  }
}
