import { availableParallelism } from 'node:os';
import {
  type BlockSum, CnnError, type HeapArena, type Loss, type Network, type Optimizer, type ShardStats, type StepRequest, type Tensor,
  Workspace, bytesFor, heapArena, processHeap, processKernels, shardCount, treeSpan,
} from '@cnn/core';
import { type Envelope, type HostSetup, type InferenceTask, decodeStats } from './protocol.js';
import { type Span, planBlocks, splitRange } from './plan.js';
import { type SharedTensor, shareTensor, tensorOf } from './shared-tensor.js';
import { CommandRunner } from './command-runner.js';
import { runInferenceTask } from './inference-task.js';
import { type Command, Phase2, type ReceivedCommand, StepChannel, type ThreadTiming } from './step-channel.js';
import { THREAD_INFERENCE_CAPACITY, threadRequests } from './thread-workspaces.js';
import { type WorkerSet, leaseWorkers, returnWorkers } from './worker-threads.js';

/** Rows per inference task: big enough to amortise a dispatch, small enough to balance threads. */
const INFERENCE_ROWS_PER_TASK = 1024;

/** Command timings a pool keeps (the oldest half is dropped past it): hours of steps, a few MB. */
const MAX_TIMINGS_KEPT = 100_000;

/**
 * One training command as timed with `timings: true` (ms since the channel's origin, on one clock
 * shared by the main thread and the threads): the main thread's ring and wake-up, each thread's row.
 */
export interface CommandTiming {
  readonly step: number;
  /** Phase 2 of the command: 'none' (blocks only), 'pieces' (combined into pieces) or 'update'. */
  readonly phase2: 'none' | 'pieces' | 'update';
  /** The command summed blocks (false: combineAndUpdate of blocks summed earlier). */
  readonly compute: boolean;
  readonly blocks: number;
  readonly ranges: number;
  /** The main thread rang the doorbell. */
  readonly ringAt: number;
  /** The main thread saw the command finished. */
  readonly doneAt: number;
  /** Per thread; null for a thread that had not seen the command when it finished (it did nothing). */
  readonly threads: readonly (ThreadTiming | null)[];
}

const PHASE2_NAMES = ['none', 'pieces', 'update'] as const;

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
  /** Threads that compute, the calling thread included (it takes part in every command). */
  readonly threads: number;
  readonly modelConfig: unknown;
  readonly network: Network;
  /** The parameters the threads read (in the kernel heap); a pool that updates writes them too. */
  readonly params: Float32Array;
  readonly loss: Loss;
  readonly fuseSoftmax: boolean;
  readonly microBatch: number;
  readonly seed: number;
  /** Most shards a step will have (sizes each thread's reduction stack and the result buffers). */
  readonly maxShards: number;
  readonly x: Tensor | null;
  readonly y: Tensor | null;
  /** Given, the pool can also combine a step's blocks and apply the update. */
  readonly optimizer?: Optimizer;
  readonly slots?: readonly Float32Array[];
  /** Time every training command (HostPool.timings); off by default, a few timestamps per block when on. */
  readonly timings?: boolean;
}

/**
 * Longest the calling thread blocks waiting for the workers within a command before it waits
 * asynchronously: long enough to cover a block or a range of the usual models (so it wakes in
 * microseconds), short enough that sockets and a dead worker are noticed soon.
 */
const CALLER_BLOCKS_MS = 2;

/**
 * How long a thread polls before it sleeps, when every thread has a core of its own: steps follow
 * each other within tens of microseconds, and waking a sleeping (halted) core can take longer than
 * a whole small step. With more threads than cores, nobody polls: it would take a core from work.
 */
export const SPIN_MS = 0.2;

/** Names each pool's setup, so a worker thread knows when a task comes from a pool it has not attached to. */
let lastSetupId = 0;

export interface StepOptions {
  /**
   * Check each block's gradient and loss (in the threads, as they finish it): a block that is not
   * finite comes back with a NaN lossSum, and a trainStep with such a block updates nothing, so a
   * diverged step leaves the parameters as they were. Off, as in Keras, NaN trains on.
   */
  readonly checkFinite?: boolean;
}

/** Where a failure happened, for the error that ends the work. */
type Phase = { step: number | null; what: string };

/**
 * The threads of one host over shared memory: the calling thread and threads - 1 workers.
 * Parameters, optimizer state, data set, result buffers and each worker's workspaces are shared once,
 * when the workers start. Training runs through a doorbell (StepChannel): a command names a step's
 * blocks, every thread (the caller too, right after ringing: no thread idles, none wakes to start)
 * claims and sums them straight into result buffers, then (same command) combines them over claimed
 * ranges of the parameters — into pieces for another host, or into the step's gradient followed by
 * the update. Evaluation and prediction run as pool tasks plus the caller's share.
 */
export class HostPool {
  readonly threads: number;
  readonly network: Network;
  readonly params: Float32Array;
  readonly #setup: HostSetup;
  readonly #channel: StepChannel;
  /** Worker threads (threads - 1; none when threads is 1). */
  readonly #workers: number;
  /** The leased worker threads (undefined with one thread, and once closed). */
  #pool: WorkerSet | undefined;
  #closed = false;
  /** A thread failed: its set is destroyed on close, not given back. */
  #failed = false;
  /** The calling thread's part: its workspaces and runner. */
  readonly #own: { runner: CommandRunner; training: Workspace; inference: Workspace };
  readonly #arenas: HeapArena[];
  /** The threads' serve tasks while training (settled when all have ended); they end on channel.stop() (or fail). */
  #serving: Promise<unknown> | null = null;
  #cursorStep = -1;
  #cursor = 0;
  /** Parameter ranges phase 2 claims (the same list every thread's runner holds). */
  readonly #rangeCount: number;
  /** The last step's blocks, reused while the pieces (the same array), shard count and first buffer repeat: steps of one batch size. */
  #lastPlan: { pieces: readonly Span[]; shards: number; first: number; blocks: { start: number; len: number; result: number }[] } | null = null;
  #shuffled = false;
  readonly #timings: CommandTiming[] | null;

  private constructor(options: HostPoolOptions, setup: HostSetup, arenas: HeapArena[]) {
    this.threads = options.threads;
    this.network = options.network;
    this.params = options.params;
    this.#setup = setup;
    this.#arenas = arenas;
    this.#channel = new StepChannel(setup.channel, setup.maxBlocks);
    this.#timings = this.#channel.timingThreads > 0 ? [] : null;
    this.#workers = options.threads - 1;
    const ranges = splitRange(options.params.length, options.threads);
    this.#rangeCount = ranges.length;
    this.#pool = this.#workers === 0 ? undefined : leaseWorkers(this.#workers);
    this.#own = this.#ownPart(options, ranges);
  }

  /** The calling thread's workspaces (from the heap, freed on close) and its runner (last timing row). */
  #ownPart(o: HostPoolOptions, ranges: readonly (readonly [number, number])[]): { runner: CommandRunner; training: Workspace; inference: Workspace } {
    const s = this.#setup;
    const requests = threadRequests(o.network, o.microBatch, o.maxShards);
    const training = Workspace.create(o.network, o.params, { capacity: o.microBatch, training: true, gradSlots: requests.trainingSlots });
    const inference = Workspace.create(o.network, o.params, { capacity: THREAD_INFERENCE_CAPACITY, training: false, gradSlots: 0 });
    const runner = new CommandRunner({
      setup: s, channel: this.#channel, training, kernels: training.kernels, loss: o.loss, optimizer: o.optimizer ?? null,
      x: s.x && tensorOf(s.x), y: s.y && tensorOf(s.y), ranges, home: this.#workers, timer: this.#channel.timer(this.#workers), injectsFaults: false,
    });
    return { runner, training, inference };
  }

  static start(o: HostPoolOptions): HostPool {
    if (!Number.isInteger(o.threads) || o.threads < 1) throw new RangeError(`options.threads must be a positive integer, got ${String(o.threads)}`);
    const heap = processHeap();
    const shared: [string, Float32Array][] = [['params', o.params], ...(o.slots ?? []).map((s, i): [string, Float32Array] => [`optimizer slot ${i}`, s])];
    for (const [what, a] of shared) {
      if (!heap.owns(a)) throw new CnnError('CNN_ERR_NOT_IN_HEAP', `host pool: the model's ${what} must be allocated from the kernel heap (a Sequential's are)`);
    }
    const x = o.x && shareTensor(o.x);
    // Everything the threads write lives in regions carved here, on the heap's owning thread, so the
    // pool can free them on close. A step has at most maxShards blocks, so as many result buffers.
    const { training, inference } = threadRequests(o.network, o.microBatch, o.maxShards);
    const regionBytes = bytesFor(training) + bytesFor(inference);
    // One region per worker; the calling thread's workspaces are made in the constructor.
    const regions = Array.from({ length: o.threads - 1 }, () => heapArena(regionBytes));
    const p = o.network.paramCount;
    const resultArena = heapArena(o.maxShards * (p * 4 + 64));
    const results = Array.from({ length: o.maxShards }, (_, i) => resultArena.f32(p, `result${i}`));
    return new HostPool(o, {
      id: ++lastSetupId,
      heap: heap.memory,
      kernelsId: processKernels().id,
      regions: regions.map((r) => ({ offset: r.byteOffset, bytes: r.byteLength })),
      claims: new Int32Array(new SharedArrayBuffer(4)),
      inferenceCapacity: THREAD_INFERENCE_CAPACITY,
      threads: o.threads,
      spinMs: o.threads <= availableParallelism() ? SPIN_MS : 0,
      channel: StepChannel.create(o.maxShards, { threads: o.threads, timing: o.timings }).buffer,
      maxBlocks: o.maxShards,
      results,
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
    }, [...regions, resultArena]);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The training commands timed so far, oldest first (null: the pool was started without
   * `timings`). The array is the pool's own: a reader may empty it (timings.length = 0) between
   * measurements; it outlives close().
   */
  get timings(): CommandTiming[] | null {
    return this.#timings;
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
   * Sums the given pieces (aligned subtrees) of a step, cut into blocks for the threads. Resolves to
   * the blocks' sums, whose gradients stay in the pool's result buffers until a later step reuses them.
   */
  async computeBlocks(request: StepRequest, pieces: readonly Span[], options: StepOptions = {}): Promise<BlockSum[]> {
    return (await this.#step(request, pieces, Phase2.none, options)).blocks;
  }

  /**
   * Sums the pieces of a step and combines each piece's blocks into it (for sending to a coordinator).
   * The sums must be used (sent) before the next call: a host that reconnects mid-step may be dealt the
   * same step's shards again, so its result buffers are reused within the step.
   */
  async computePieces(request: StepRequest, pieces: readonly Span[]): Promise<BlockSum[]> {
    const { blocks } = await this.#step(request, pieces, Phase2.combinePieces, {}, true);
    return pieces.map((p) => {
      const inside = blocks.filter((b) => b.start >= p.start && b.start < p.start + p.len);
      const first = inside.reduce((a, b) => (a.start < b.start ? a : b));
      return {
        ...p, grad: first.grad,
        lossSum: inside.reduce((a, b) => a + b.lossSum, 0), correct: inside.reduce((a, b) => a + b.correct, 0), count: inside.reduce((a, b) => a + b.count, 0),
      };
    });
  }

  /**
   * Sums the whole tree of a step and applies update number step + 1: one command, one round trip.
   * With `checkFinite`, a step whose gradient or loss is not finite updates nothing (see StepOptions).
   */
  async trainStep(request: StepRequest, wholeTree: readonly Span[], options: StepOptions = {}): Promise<BlockSum[]> {
    return (await this.#step(request, wholeTree, Phase2.update, options)).blocks;
  }

  /**
   * The blocks this pool summed for the current step are not needed any more (the step is computed
   * again from the start): the next command's blocks may take every result buffer again.
   */
  forgetStep(): void {
    this.#cursorStep = -1;
  }

  /** Combines blocks summed earlier by this pool into the step's gradient and applies the update. */
  async combineAndUpdate(blocks: readonly BlockSum[], shards: number, request: StepRequest): Promise<void> {
    if (!this.#setup.optimizer) throw new Error('combineAndUpdate needs a pool started with an optimizer');
    await this.#command({ step: request.step, what: 'updating parameters' }, {
      compute: false, checkFinite: false, phase2: Phase2.update, step: request.step, batchStart: request.batchStart, batchSize: request.batchSize,
      shuffled: this.#shuffled, shards, blocks: blocks.map((b) => ({ start: b.start, len: b.len, result: this.#resultId(b) })), pieces: [],
      ranges: this.#rangeCount,
    });
  }

  async #step(request: StepRequest, pieces: readonly Span[], phase2: number, options: StepOptions, reuse = false): Promise<{ blocks: BlockSum[] }> {
    if (phase2 === Phase2.update && !this.#setup.optimizer) throw new Error('a training step needs a pool started with an optimizer');
    const shards = shardCount(request.batchSize, this.#setup.microBatch);
    const blocks = this.#plan(request.step, pieces, shards, reuse);
    const channel = await this.#command({ step: request.step, what: 'computing gradients' }, {
      compute: true, checkFinite: options.checkFinite ?? false, phase2, step: request.step, batchStart: request.batchStart, batchSize: request.batchSize, shuffled: this.#shuffled,
      shards, blocks, pieces: phase2 === Phase2.combinePieces ? pieces : [], ranges: phase2 === Phase2.none ? 0 : this.#rangeCount,
    });
    return { blocks: blocks.map((b, i) => channel.blockSum(i, b, this.#setup.results[b.result])) };
  }

  /**
   * Rings a command, takes part in it on this thread, and waits for it; a thread's failure or death
   * closes the pool and rejects.
   */
  async #command(phase: Phase, command: Command): Promise<StepChannel> {
    if (this.#closed) throw this.#closedError();
    // Whoever called (a cluster dealing out orders) finishes its synchronous work before this thread
    // starts computing: other hosts' orders go out first.
    await null;
    this.#serve();
    const ringAt = this.#timings ? this.#channel.now() : 0;
    const { target, received } = this.#channel.ring(command);
    const seq = received.seq;
    let failure: string | null;
    try {
      failure = await this.#takePart(received);
      failure ??= await this.#channel.finished(target, CALLER_BLOCKS_MS, this.#setup.spinMs);
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
    }
    if (failure !== null) await this.#fail(phase, failure);
    if (this.#timings) this.#recordTiming(command, seq, ringAt);
    return this.#channel;
  }

  /** Keeps the timing of command `seq`, just finished. */
  #recordTiming(c: Command, seq: number, ringAt: number): void {
    const doneAt = this.#channel.now();
    const timings = this.#timings!;
    if (timings.length >= MAX_TIMINGS_KEPT) timings.splice(0, MAX_TIMINGS_KEPT / 2);
    timings.push({
      step: c.step, phase2: PHASE2_NAMES[c.phase2], compute: c.compute, blocks: c.blocks.length, ranges: c.ranges,
      ringAt, doneAt, threads: this.#channel.threadTimings(seq),
    });
  }

  /**
   * This thread's part of a command: blocks, the barrier (awaited, so sockets and timers keep going),
   * ranges. It leaves the step an injected fault names to the workers, where the fault fires.
   */
  async #takePart(c: ReceivedCommand): Promise<string | null> {
    const runner = this.#own.runner;
    this.#channel.timer(this.#workers)?.wake(c.seq);
    try {
      if (this.#setup.fault?.step !== c.step || this.#workers === 0) runner.blocks(c);
      if (c.phase2 === Phase2.none) return null;
      if (!(await this.#channel.blocksSummed(c, CALLER_BLOCKS_MS, this.#setup.spinMs))) return null;
      runner.ranges(c);
      return null;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.#channel.fail(message);
      return message;
    }
  }

  /**
   * Starts the workers' serve loops if they are not running (none with one thread: it never dies).
   * A loop that ends in error (a thread that threw outside a command, or exited) is recorded as the
   * channel's failure, which wakes whoever waits on it: the waits need no race against a promise that
   * lives as long as the pool (every such race would leave a reaction on it, a leak per step).
   */
  #serve(): void {
    if (this.#workers === 0 || this.#serving) return;
    const pool = this.#requirePool();
    const seen = this.#channel.seq;
    const tasks = Array.from({ length: this.#workers }, () => pool.run(this.#envelope({ seen }), { name: 'serve' }));
    for (const t of tasks) t.catch((e: unknown) => this.#channel.fail(e instanceof Error ? e.message : String(e)));
    this.#serving = Promise.allSettled(tasks);
  }

  /** Ends the serve loops, so the threads take ordinary tasks (or stop). */
  async #stopServing(): Promise<void> {
    const serving = this.#serving;
    if (!serving) return;
    this.#serving = null;
    this.#channel.stop();
    await serving;
  }

  /** The blocks of a step's pieces with their result buffers (planned once per batch size, for the usual caller that passes the same pieces). */
  #plan(step: number, pieces: readonly Span[], shards: number, reuse: boolean): { start: number; len: number; result: number }[] {
    const last = this.#lastPlan?.pieces === pieces && this.#lastPlan.shards === shards ? this.#lastPlan : null;
    const planned: readonly Span[] = last ? last.blocks : planBlocks(pieces, shards, this.threads);
    const first = this.#takeResults(step, planned.length, reuse);
    if (last && first === last.first) return last.blocks;
    const blocks = planned.map((b, i) => ({ start: b.start, len: b.len, result: first + i }));
    this.#lastPlan = { pieces, shards, first, blocks };
    return blocks;
  }

  /** The first result buffer of `count` that no other order of this step holds (with `reuse`: no order still held). */
  #takeResults(step: number, count: number, reuse: boolean): number {
    if (step !== this.#cursorStep || (reuse && this.#cursor + count > this.#setup.results.length)) {
      this.#cursorStep = step;
      this.#cursor = 0;
    }
    const first = this.#cursor;
    if (first + count > this.#setup.results.length) {
      throw new Error(`step ${step + 1} needs ${first + count} result buffers, the pool has ${this.#setup.results.length} (one per shard)`);
    }
    this.#cursor += count;
    return first;
  }

  #resultId(b: BlockSum): number {
    const id = this.#setup.results.indexOf(b.grad);
    if (id < 0) throw new Error(`block [${b.start}, +${b.len}) is not in one of this pool's result buffers`);
    return id;
  }

  async evaluate(x: Tensor, y: Tensor): Promise<ShardStats> {
    const parts = await this.#inference(shareTensor(x), shareTensor(y), null);
    const total: ShardStats = { lossSum: 0, correct: 0, count: 0 };
    for (const part of parts) {
      const r = decodeStats(part);
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

  /**
   * Stops the workers' loops and gives the threads back for the next pool (or destroys them, after a
   * failure), then gives their regions, the result buffers and this thread's workspaces back to the heap.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = undefined;
    const serving = this.#serving;
    this.#serving = null;
    if (serving) {
      this.#channel.stop();
      if (!this.#failed) await serving;
    }
    if (pool) await returnWorkers(pool, !this.#failed);
    for (const a of this.#arenas) a.release();
    this.#arenas.length = 0;
    this.#own.training.release();
    this.#own.inference.release();
  }

  /**
   * Rows in tasks of INFERENCE_ROWS_PER_TASK: the workers take their share as pool tasks, this thread
   * computes the rest meanwhile (the last tasks, one per thread's share), then collects.
   */
  async #inference(x: SharedTensor, y: SharedTensor | null, out: Float32Array | null): Promise<unknown[]> {
    if (this.#closed) throw this.#closedError();
    await this.#stopServing();
    const rows = x.shape[0];
    const tasks: InferenceTask[] = [];
    for (let start = 0; start < rows; start += INFERENCE_ROWS_PER_TASK) {
      tasks.push({ x, y, start, count: Math.min(INFERENCE_ROWS_PER_TASK, rows - start), out });
    }
    const own = Math.ceil(tasks.length / this.threads);
    const pool = this.#pool?.piscina;
    const remote = pool ? tasks.slice(0, tasks.length - own).map((t) => pool.run(this.#envelope(t), { name: 'infer' })) : [];
    remote.forEach((p) => p.catch(() => {}));
    try {
      const local = tasks.slice(tasks.length - (pool ? own : tasks.length)).map((t) => runInferenceTask(this.#own.inference, t, this.#own.runner.loss, this.#setup.fuseSoftmax));
      return [...(await Promise.all(remote)), ...local];
    } catch (e) {
      return this.#fail({ step: null, what: out ? 'predicting' : 'evaluating' }, e instanceof Error ? e.message : String(e));
    }
  }

  #closedError(): CnnError {
    return new CnnError('CNN_ERR_POOL_CLOSED', 'the worker pool is closed (a thread failed earlier, or the work ended)');
  }

  /** A task for the worker threads: with the setup, so a thread attaches to this pool on first sight. */
  #envelope(task: unknown): Envelope {
    return { setup: this.#setup, task };
  }

  async #fail(phase: Phase, cause: string): Promise<never> {
    this.#failed = true;
    await this.close();
    const where = phase.step === null ? `while ${phase.what}` : `at step ${phase.step + 1} (${phase.what})`;
    throw new CnnError('CNN_ERR_THREAD_FAILED', `A worker thread failed ${where}: ${cause}. The worker pool is closed.`);
  }

  #requirePool(): WorkerSet['piscina'] {
    if (!this.#pool) throw this.#closedError();
    return this.#pool.piscina;
  }
}
