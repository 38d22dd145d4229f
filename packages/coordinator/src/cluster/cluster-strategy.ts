import {
  CnnError, type ShardStats, SingleThreadStrategy, type StepRequest, type Strategy, type Tensor, type TrainingSetup,
  applyUpdate, combineBlocks, shardCount,
} from '@cnn/core';
import type { Logger } from 'pino';
import { type DeadlineOptions, Deadlines } from './deadlines.js';
import { type HostLink, HostLost, type WorkOrder, type WorkResult } from './host-link.js';
import { LocalHostLink } from './local-host.js';
import type { Membership } from './membership.js';
import { redistribute, splitShards } from './split.js';
import type { Span } from '../protocol/messages.js';

/** Per step: how long the slowest host computed and how long the step took from the coordinator. */
export interface StepTiming {
  readonly step: number;
  readonly totalMs: number;
  readonly hosts: { id: string; computeMs: number; roundTripMs: number; shards: number }[];
  /** The coordinator's combine and update; 0 when this machine trained alone (inside its compute). */
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
  /** Straggler deadlines (DEADLINE_DEFAULTS where not given). */
  readonly deadlines?: Partial<DeadlineOptions>;
  /**
   * On average one step in `verifyEvery` (0: never), one piece a remote host summed, picked at random,
   * is summed again by this machine's threads before the update; the canonical tree makes the two
   * bit for bit equal. A host whose sums differ is dropped (CNN_PROTO_BAD_RESULT) and the step is
   * computed again without it. Needs this machine's pool (--local-threads > 0).
   */
  readonly verifyEvery?: number;
  /** Uniform in [0, 1): which steps and pieces are verified (Math.random; a test fixes it). */
  readonly random?: () => number;
}

interface Collected {
  readonly host: HostLink;
  readonly result: WorkResult;
  readonly shards: number;
}

/** One step being gathered: what came back, what still needs a host, and why the step must fail. */
interface Gathering {
  readonly request: StepRequest;
  readonly shards: number;
  readonly collected: Collected[];
  pending: Span[];
  readonly inflight: Set<Promise<void>>;
  /** Pieces refused as non-finite in this step, and from whom: two hosts agreeing means divergence. */
  readonly nonFinite: { host: HostLink; piece: Span }[];
  failed: Error | null;
}

/**
 * Training across hosts: each step's tree is cut into contiguous ranges of shards, one per live host
 * in proportion to its threads; hosts return the pieces' sums; the coordinator combines them in the
 * canonical tree and applies the update. A host lost mid-step, or one that misses its deadline, has
 * its pieces dealt to the others within the same step, so no sample is lost or counted twice, and the
 * bits never change.
 */
export class ClusterStrategy implements Strategy {
  readonly name = 'cluster';
  readonly #o: ClusterStrategyOptions;
  #setup: TrainingSetup | undefined;
  #evaluator: Evaluator | undefined;
  #fallback: SingleThreadStrategy | undefined;
  #shuffle = true;
  readonly #deadlines: Deadlines;
  /** Hosts with orders past their deadline still unanswered (how many): they get no new order meanwhile. */
  readonly #overdue = new Map<HostLink, number>();
  /** Shards ordered from each host and not yet answered: a host serves orders in turn, so a new one waits for these. */
  readonly #queued = new Map<HostLink, number>();
  /** Wakes the step being gathered: an order settled or missed its deadline. */
  #wake: (() => void) | null = null;

  constructor(options: ClusterStrategyOptions) {
    this.#o = options;
    this.#deadlines = new Deadlines(options.deadlines);
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
    const live = this.#o.membership.live();
    if (live.length === 1 && live[0] instanceof LocalHostLink) return this.#trainAlone(live[0], request, shards, started);
    const results = await this.#gather(request, shards);
    const liar = await this.#verify(request, shards, results);
    if (liar) {
      liar.host.refuse?.('CNN_PROTO_BAD_RESULT', liar.why);
      if (liar.host.alive) throw new CnnError('CNN_ERR_BAD_RESULT', `${liar.why}, and the host could not be dropped`);
      this.#o.log.error({ host: liar.host.id, step: request.step + 1 }, `${liar.why}: host dropped, computing the step again without it`);
      // This machine's blocks of the step (its own pieces, and the piece it checked) are not needed any more.
      liar.local.pool.forgetStep();
      return this.trainStep(request);
    }
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

  /**
   * Sums one randomly picked piece of a remote host's answer again on this machine's threads (see
   * verifyEvery); returns the host, why, and the local host that checked, when the two differ. Gradients must be equal bit for bit,
   * counts exactly; loss sums are compared to 1e-9 relative, since a piece's loss adds its blocks'
   * losses in an order that depends on how many threads summed them.
   */
  async #verify(request: StepRequest, shards: number, results: Collected[]): Promise<{ host: HostLink; why: string; local: LocalHostLink } | null> {
    const every = this.#o.verifyEvery ?? 0;
    const random = this.#o.random ?? Math.random;
    const local = this.#o.membership.live().find((h): h is LocalHostLink => h instanceof LocalHostLink);
    const remote = results.filter((r) => r.result.pool === null);
    if (every <= 0 || !local || remote.length === 0 || random() * every >= 1) return null;
    const suspect = remote[Math.floor(random() * remote.length)];
    const theirs = suspect.result.blocks[Math.floor(random() * suspect.result.blocks.length)];
    // The step's blocks so far are disjoint from this piece, so the pool takes fresh result buffers.
    const [mine] = await local.pool.computePieces(request, [{ start: theirs.start, len: theirs.len }]);
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const same = mine.correct === theirs.correct && mine.count === theirs.count
      && Math.abs(mine.lossSum - theirs.lossSum) <= 1e-9 * Math.max(1, Math.abs(mine.lossSum))
      && bytes(mine.grad).equals(bytes(theirs.grad));
    if (same) {
      this.#o.log.debug({ host: suspect.host.id, step: request.step + 1, shards: shardsText(theirs, shards) }, 'piece verified');
      return null;
    }
    return { host: suspect.host, why: `step ${request.step + 1}: its sums of shards ${shardsText(theirs, shards)} differ from this machine's computation of the same shards`, local };
  }

  /**
   * This machine is the only host (`cnn train`, or a coordinator no host has joined yet): its pool
   * computes, combines and updates in one command, with the bits of the gathered path.
   */
  async #trainAlone(local: LocalHostLink, request: StepRequest, shards: number, started: number): Promise<ShardStats> {
    const result = await local.trainStep(request, shards);
    // The threads checked every block as they summed it and, finding one not finite, updated nothing.
    const diverged = nonFiniteFromPool(result, request, shards);
    if (diverged) throw diverged;
    const stats = combineBlocks(result.blocks, shards, 0, 0);
    this.#o.onStep?.({
      step: request.step, totalMs: performance.now() - started, updateMs: 0,
      hosts: [{ id: local.id, computeMs: result.computeMs, roundTripMs: result.roundTripMs, shards }],
    });
    return { lossSum: stats.lossSum, correct: stats.correct, count: stats.count };
  }

  /**
   * Sends the step's pieces out and collects them. The pieces of a host that is lost, or that misses
   * its deadline while another host is free, are dealt to the live hosts; a late answer is ignored, so
   * every piece's sum is taken once, from one order.
   */
  async #gather(request: StepRequest, shards: number): Promise<Collected[]> {
    const { membership, log } = this.#o;
    const g: Gathering = { request, shards, collected: [], pending: [{ start: 0, len: shards }], inflight: new Set(), nonFinite: [], failed: null };
    let first = true;
    this.#deadlines.retain(new Set(membership.live().map((h) => h.id)));
    while ((g.pending.length > 0 || g.inflight.size > 0) && !g.failed) {
      const event = new Promise<void>((resolve) => (this.#wake = resolve));
      if (g.pending.length > 0) {
        const live = membership.live();
        const hosts = live.filter((h) => !this.#overdue.has(h));
        if (hosts.length > 0) {
          const weights = hosts.map((h) => h.threads);
          const shares = first ? splitShards(shards, weights) : redistribute(g.pending, shards, weights);
          first = false;
          g.pending = [];
          shares.forEach((pieces, i) => {
            if (pieces.length > 0) this.#dispatch(g, hosts[i], pieces);
          });
        } else if (live.length === 0 && g.inflight.size === 0) {
          log.warn({ step: request.step + 1 }, 'no live host: waiting for one to join');
          await membership.waitFor(1);
          continue;
        } else if (g.inflight.size === 0) {
          // Every live host is overdue: one of them answers (or is dropped), or another joins.
          await Promise.race([event, membership.next()]);
          continue;
        }
      }
      await event;
    }
    if (g.failed) throw g.failed;
    return g.collected;
  }

  /** Sends one order; its sums land in `g.collected`, or its pieces go back to `g.pending`. */
  #dispatch(g: Gathering, host: HostLink, pieces: Span[]): void {
    const { membership, log } = this.#o;
    const { request, shards } = g;
    const order: WorkOrder = { request, shuffle: this.#shuffle, pieces, params: this.#requireSetup().params };
    const real = pieces.reduce((a, p) => a + Math.min(p.len, shards - p.start), 0);
    let abandoned = false;
    let timer: NodeJS.Timeout | undefined;
    const ahead = this.#queued.get(host) ?? 0;
    this.#queued.set(host, ahead + real);
    const task: Promise<void> = host.compute(order).then(
      (result) => {
        if (abandoned) {
          log.info({ host: host.id, step: request.step + 1 }, 'late answer from a straggler ignored');
          return;
        }
        if (result.pool) g.failed ??= nonFiniteFromPool(result, request, shards);
        else this.#deadlines.record(host.id, result.roundTripMs, real);
        g.collected.push({ host, result, shards: real });
      },
      (error: unknown) => {
        if (abandoned) return;
        g.failed ??= divergence(g, host, error);
        log.warn({ host: host.id, step: request.step + 1, pieces: pieces.length, err: (error as Error).message }, 'host lost mid-step: reassigning its pieces');
        g.pending.push(...pieces);
      },
    ).finally(() => {
      clearTimeout(timer);
      const left = (this.#queued.get(host) ?? real) - real;
      if (left > 0) this.#queued.set(host, left);
      else this.#queued.delete(host);
      g.inflight.delete(task);
      if (abandoned) {
        const left = (this.#overdue.get(host) ?? 1) - 1;
        if (left > 0) this.#overdue.set(host, left);
        else this.#overdue.delete(host);
      }
      this.#wake?.();
    });
    g.inflight.add(task);
    // The coordinator's own pool gets no deadline: it shares this process, and its sums sit in its buffers.
    const ms = host instanceof LocalHostLink ? null : this.#deadlines.deadline(host.id, ahead + real);
    if (ms === null) return;
    timer = setTimeout(() => {
      // Waiting for the only free host beats handing it its own pieces again.
      if (!membership.live().some((h) => h !== host && !this.#overdue.has(h))) return;
      abandoned = true;
      g.inflight.delete(task);
      this.#overdue.set(host, (this.#overdue.get(host) ?? 0) + 1);
      log.warn({ host: host.id, step: request.step + 1, deadlineMs: Math.round(ms), pieces: pieces.length }, 'host missed its deadline: dealing its pieces to the others');
      g.pending.push(...pieces);
      this.#wake?.();
    }, ms);
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

const shardsText = (p: Span, shards: number) => `[${p.start}, ${Math.min(p.start + p.len, shards)})`;

const DIVERGED_ADVICE = 'the model diverged; lower the learning rate (--learning-rate)';

/**
 * A diverging model makes every host send non-finite sums, and each host would be dropped in turn,
 * stalling the run. The same shards refused as non-finite from two different hosts (connections)
 * mean the arithmetic itself overflowed, not a host: the run stops.
 */
function divergence(g: Gathering, host: HostLink, error: unknown): CnnError | null {
  if (!(error instanceof HostLost) || error.code !== 'CNN_PROTO_NOT_FINITE' || !error.piece) return null;
  const piece = error.piece;
  const other = g.nonFinite.find((n) => n.host !== host && n.piece.start < piece.start + piece.len && piece.start < n.piece.start + n.piece.len);
  g.nonFinite.push({ host, piece });
  if (!other) return null;
  return new CnnError('CNN_ERR_DIVERGED', `step ${g.request.step + 1}: shards ${shardsText(piece, g.shards)} gave a non-finite gradient or loss on ${other.host.id} (${other.host.name}) and again on ${host.id} (${host.name}): ${DIVERGED_ADVICE}`);
}

/**
 * The coordinator's own threads compute from the true parameters: a non-finite sum there is
 * divergence. The threads check each block as they finish it (LocalHostLink asks them to) and mark
 * one that is not finite with a NaN loss, so no gradient is read here.
 */
function nonFiniteFromPool(result: WorkResult, request: StepRequest, shards: number): CnnError | null {
  for (const b of result.blocks) {
    if (!Number.isFinite(b.lossSum)) return new CnnError('CNN_ERR_DIVERGED', `step ${request.step + 1}: shards ${shardsText(b, shards)} gave a non-finite gradient or loss on this machine's threads: ${DIVERGED_ADVICE}`);
  }
  return null;
}
