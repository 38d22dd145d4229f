import type { BlockSum, StepRequest } from '@cnn/core';
import { type HostPool, wholeTree } from '@cnn/worker';
import type { HostLink, WorkOrder, WorkResult } from './host-link.js';

/**
 * The coordinator's own machine as a host: a worker pool over the coordinator's parameters (shared
 * memory, so an order needs no copy). `cnn train` is a coordinator with only this host.
 */
export class LocalHostLink implements HostLink {
  readonly id = 'local';
  readonly name = 'local';
  readonly address = 'in-process';
  readonly pool: HostPool;

  constructor(pool: HostPool) {
    this.pool = pool;
  }

  get threads(): number {
    return this.pool.threads;
  }

  get alive(): boolean {
    return !this.pool.closed;
  }

  async compute(order: WorkOrder): Promise<WorkResult> {
    if (order.params !== this.pool.params) throw new Error('the local host computes with the coordinator parameters only');
    return this.#timed(() => this.pool.computeBlocks(order.request, order.pieces, { checkFinite: true }));
  }

  /**
   * The whole step, update included, in one command of the pool (as `threads()` runs it): for when
   * this machine is the only host, which saves a second round trip through the threads per step.
   * A block that is not finite comes back with a NaN loss, and then nothing was updated.
   */
  async trainStep(request: StepRequest, shards: number): Promise<WorkResult> {
    return this.#timed(() => this.pool.trainStep(request, wholeTree(shards), { checkFinite: true }));
  }

  /** A pool command's blocks as a host's result: no network, so the round trip is the compute time. */
  async #timed(command: () => Promise<BlockSum[]>): Promise<WorkResult> {
    const started = performance.now();
    const blocks = await command();
    const ms = performance.now() - started;
    return { blocks, computeMs: ms, roundTripMs: ms, pool: this.pool };
  }

  finish(): void {}

  setOrder(order: Int32Array | null): void {
    this.pool.setOrder(order);
  }
}
