/**
 * The doorbell between a host's main thread and its worker threads during training: a small
 * SharedArrayBuffer holding the current command (a step's blocks, then what to do with them), work
 * counters the threads claim from, the blocks' stats, and a failure message. The main thread rings
 * (Atomics.notify on SEQ) and awaits FINISHED; the threads wait on SEQ. One round trip per step, a few
 * microseconds, instead of a message per task.
 *
 * Safety against a thread that wakes late: the fields of command s live in slot s % 2 (the main
 * thread writes the other slot for s + 1 while a late thread may still read slot s), and every claim
 * counter carries the command number it counts for, so a late thread's claims fail instead of taking
 * work of a newer command with an older command's fields.
 *
 * Both sides use this one class over the same buffer, so the layout is written once.
 *
 * Phase 2's parameter ranges are claimed one word each, and a thread first tries its own (range t for
 * thread t): the same thread updates the same parameters and optimizer slots every step, so they stay
 * in its core's cache. Claimed in arrival order instead, the first thread at the barrier took range 0,
 * and every swap moved a range's parameters, slots and gradient between the cores' caches (seed at batch
 * 32: Adam over half the parameters took 46 µs in such runs against 13 µs).
 *
 * Optional timing (StepChannel.create(maxBlocks, { threads, timing: true })): each thread stamps, per command, when it
 * woke, claimed, summed and combined into its own row of Float64 words after the error bytes; the
 * stamps are milliseconds since the creating thread's performance.timeOrigin, so they compare across
 * threads. Off (the default) the rows do not exist and the threads take no timestamps.
 */

import type { BlockSum } from '@cnn/core';

// Int32 words of the control block.
const SEQ = 0; // command number; threads wait for it to change
const NEXT_BLOCK = 1; // tagged claim counter of phase 1
const BLOCKS_DONE = 2; // phase 1 barrier
const RANGE_WORDS = 3; // phase 2's claim words (one per range, at most one per thread); fixed at creation
const RANGES_DONE = 4;
const FINISHED = 5; // bumped once per command when all work is done; the main thread waits on it
const FAILED = 6; // 0, 2 while a message is being written, 1 once it is readable
const ERROR_LENGTH = 7;
const TIMING_ROWS = 8; // threads with a timing row (0: timing off); fixed at creation
const CONTROL_WORDS = 9;

// Int32 words of a command slot.
const KIND = 0;
const PHASE2 = 1;
const STEP = 2;
const BATCH_START = 3;
const BATCH_SIZE = 4;
const SHUFFLED = 5;
const SHARDS = 6;
const BLOCKS = 7;
const PIECES = 8;
const RANGES = 9;
const COMPUTE = 10;
const CHECK_FINITE = 11;
const HEADER_WORDS = 12;

/** Bytes of a failure message kept (longer ones are cut). */
const ERROR_BYTES = 2048;
/** Claim counters hold (command number mod 2^15) << 16 | count; a range's claim word, that tag | claimed. */
const TAG_SHIFT = 16;
const COUNT_MASK = 0xffff;

const tagOf = (seq: number) => (seq & 0x7fff) << TAG_SHIFT;

// Float64 words of a thread's timing row (times in ms since the channel's origin; busy: sums of ms).
const T_WAKE = 0; // the thread saw the command
const T_FIRST_CLAIM = 1; // it claimed its first block (NaN: none)
const T_P1_BUSY = 2; // summing blocks
const T_P1_END = 3; // it finished its last block (NaN: none)
const T_P2_START = 4; // it passed the phase-1 barrier (NaN: no phase 2)
const T_COMBINE_BUSY = 5; // combining blocks over its ranges
const T_UPDATE_BUSY = 6; // applying the optimizer over its ranges
const T_P2_END = 7; // it finished its last range (NaN: none)
const T_BLOCKS = 8;
const T_RANGES = 9;
const TIMING_WORDS = 10;

export const Kind = { run: 1, stop: 2 } as const;

/** Polls `busy` for up to `ms` milliseconds (0: not at all). */
function spinWhile(busy: () => boolean, ms: number): void {
  if (ms <= 0) return;
  const until = performance.now() + ms;
  while (busy() && performance.now() < until) {
    // polling: see next()
  }
}
/** What the threads do once every block of the command is summed. */
export const Phase2 = { none: 0, combinePieces: 1, update: 2 } as const;

export interface Command {
  /** Sum the blocks first (false: they were summed by an earlier command; go to phase 2). */
  readonly compute: boolean;
  /**
   * Mark a summed block whose gradient or loss is not finite (its loss becomes NaN), and with phase 2
   * 'update', update nothing if any block is marked: a diverged step leaves the parameters alone.
   */
  readonly checkFinite: boolean;
  readonly phase2: number;
  readonly step: number;
  readonly batchStart: number;
  readonly batchSize: number;
  readonly shuffled: boolean;
  readonly shards: number;
  /** Blocks to sum: start, len, result buffer id. */
  readonly blocks: readonly { start: number; len: number; result: number }[];
  /** For combinePieces: the pieces to combine the blocks into. */
  readonly pieces: readonly { start: number; len: number }[];
  /** For phase 2: how many parameter ranges the threads claim. */
  readonly ranges: number;
}

export interface ReceivedCommand extends Command {
  readonly seq: number;
  readonly kind: number;
}

export interface Stats {
  lossSum: number;
  correct: number;
  count: number;
}

/** One thread's share of one command, as it stamped it (ms since the channel's origin). */
export interface ThreadTiming {
  readonly wake: number;
  readonly firstClaim: number;
  readonly phase1Busy: number;
  readonly phase1End: number;
  readonly phase2Start: number;
  readonly combineBusy: number;
  readonly updateBusy: number;
  readonly phase2End: number;
  readonly blocks: number;
  readonly ranges: number;
}

export class StepChannel {
  readonly buffer: SharedArrayBuffer;
  readonly maxBlocks: number;
  readonly #ctl: Int32Array;
  /** Per slot: header, then blocks (start, len, result), then pieces (start, len). */
  readonly #slots: Int32Array[];
  readonly #loss: Float64Array;
  readonly #counts: Int32Array;
  /** Per parameter range: the tag of the command it belongs to, | 1 once a thread claimed it. */
  readonly #rangeClaims: Int32Array;
  readonly #error: Uint8Array;
  /** Timing rows (null: timing off): the command each row belongs to, then its words. */
  readonly #rowSeq: Int32Array | null;
  readonly #rows: Float64Array | null;
  /** performance.timeOrigin of the thread that created the channel: every stamp counts from it. */
  readonly #origin: Float64Array;
  /** This thread's performance.timeOrigin minus the channel's origin. */
  #offset: number;

  constructor(buffer: SharedArrayBuffer, maxBlocks: number) {
    this.buffer = buffer;
    this.maxBlocks = maxBlocks;
    let at = 0;
    const take = (bytes: number) => {
      const start = at;
      at += Math.ceil(bytes / 8) * 8;
      return start;
    };
    const slotWords = HEADER_WORDS + maxBlocks * 5;
    this.#ctl = new Int32Array(buffer, take(CONTROL_WORDS * 4), CONTROL_WORDS);
    this.#loss = new Float64Array(buffer, take(maxBlocks * 8), maxBlocks);
    this.#slots = [0, 1].map(() => new Int32Array(buffer, take(slotWords * 4), slotWords));
    this.#counts = new Int32Array(buffer, take(maxBlocks * 8), maxBlocks * 2);
    const rangeWords = Atomics.load(this.#ctl, RANGE_WORDS);
    this.#rangeClaims = new Int32Array(buffer, take(rangeWords * 4), rangeWords);
    this.#error = new Uint8Array(buffer, take(ERROR_BYTES), ERROR_BYTES);
    this.#origin = new Float64Array(buffer, take(8), 1);
    const rows = Atomics.load(this.#ctl, TIMING_ROWS);
    this.#rowSeq = rows > 0 ? new Int32Array(buffer, take(rows * 4), rows) : null;
    this.#rows = rows > 0 ? new Float64Array(buffer, take(rows * TIMING_WORDS * 8), rows * TIMING_WORDS) : null;
    this.#offset = performance.timeOrigin - this.#origin[0];
  }

  static bytes(maxBlocks: number, threads: number, timingThreads = 0): number {
    const slotBytes = (HEADER_WORDS + maxBlocks * 5) * 4 + 8;
    const timingBytes = timingThreads * (4 + TIMING_WORDS * 8) + 16;
    return CONTROL_WORDS * 4 + maxBlocks * 8 + 2 * slotBytes + maxBlocks * 8 + threads * 4 + 8 + ERROR_BYTES + timingBytes + 64;
  }

  /**
   * A fresh channel for `threads` threads (commands of at most `threads` parameter ranges); with
   * `timing`, every thread stamps its work per command.
   */
  static create(maxBlocks: number, o: { threads: number; timing?: boolean }): StepChannel {
    const timingThreads = o.timing ? o.threads : 0;
    const buffer = new SharedArrayBuffer(StepChannel.bytes(maxBlocks, o.threads, timingThreads));
    // The layout depends on these counts, so they are in the buffer before any view is made.
    const ctl = new Int32Array(buffer, 0, CONTROL_WORDS);
    ctl[TIMING_ROWS] = timingThreads;
    ctl[RANGE_WORDS] = o.threads;
    const channel = new StepChannel(buffer, maxBlocks);
    channel.#origin[0] = performance.timeOrigin;
    channel.#offset = 0;
    return channel;
  }

  /** Threads with a timing row (0: timing off). */
  get timingThreads(): number {
    return this.#rowSeq?.length ?? 0;
  }

  /** Milliseconds since the channel's origin, comparable between the threads that share it. */
  now(): number {
    return performance.now() + this.#offset;
  }

  get seq(): number {
    return Atomics.load(this.#ctl, SEQ);
  }

  // --- main thread ---------------------------------------------------------------------------------

  /**
   * Publishes a command and wakes the threads; returns the FINISHED value that marks it done, and the
   * command as the threads receive it (for the main thread to take part too).
   */
  ring(c: Command): { target: number; received: ReceivedCommand } {
    if (c.blocks.length > this.maxBlocks || c.pieces.length > this.maxBlocks) throw new Error(`a command of ${c.blocks.length} blocks exceeds the channel's ${this.maxBlocks}`);
    if (c.ranges > this.#rangeClaims.length) throw new Error(`a command of ${c.ranges} parameter ranges exceeds the channel's ${this.#rangeClaims.length}`);
    const ctl = this.#ctl;
    const seq = Atomics.load(ctl, SEQ) + 1;
    const slot = this.#slots[seq & 1];
    slot[KIND] = Kind.run;
    slot[PHASE2] = c.phase2;
    slot[STEP] = c.step;
    slot[BATCH_START] = c.batchStart;
    slot[BATCH_SIZE] = c.batchSize;
    slot[SHUFFLED] = c.shuffled ? 1 : 0;
    slot[SHARDS] = c.shards;
    slot[BLOCKS] = c.blocks.length;
    slot[PIECES] = c.pieces.length;
    slot[RANGES] = c.ranges;
    slot[COMPUTE] = c.compute ? 1 : 0;
    slot[CHECK_FINITE] = c.checkFinite ? 1 : 0;
    for (let i = 0; i < c.blocks.length; i++) {
      const b = c.blocks[i];
      slot[HEADER_WORDS + 3 * i] = b.start;
      slot[HEADER_WORDS + 3 * i + 1] = b.len;
      slot[HEADER_WORDS + 3 * i + 2] = b.result;
    }
    const pieceBase = HEADER_WORDS + 3 * this.maxBlocks;
    for (let i = 0; i < c.pieces.length; i++) {
      slot[pieceBase + 2 * i] = c.pieces[i].start;
      slot[pieceBase + 2 * i + 1] = c.pieces[i].len;
    }
    Atomics.store(ctl, NEXT_BLOCK, tagOf(seq));
    for (let r = 0; r < c.ranges; r++) Atomics.store(this.#rangeClaims, r, tagOf(seq));
    Atomics.store(ctl, BLOCKS_DONE, 0);
    Atomics.store(ctl, RANGES_DONE, 0);
    const target = Atomics.load(ctl, FINISHED) + 1;
    Atomics.store(ctl, SEQ, seq);
    Atomics.notify(ctl, SEQ);
    // A literal of fixed shape, not a spread of c: V8 clones an object through its slow path here,
    // about 1.7 µs a step on the main thread (measured), against tens of ns.
    const received: ReceivedCommand = {
      seq, kind: Kind.run, compute: c.compute, checkFinite: c.checkFinite, phase2: c.phase2, step: c.step,
      batchStart: c.batchStart, batchSize: c.batchSize, shuffled: c.shuffled, shards: c.shards, blocks: c.blocks,
      pieces: c.pieces, ranges: c.ranges,
    };
    return { target, received };
  }

  /**
   * The main thread's barrier between the phases: resolves true when every block is summed, false
   * when the command failed. It blocks for at most `blockMs` (a wake-up from Atomics.wait is far
   * quicker than from the event loop, and the other threads are usually a block away), then awaits
   * (Atomics.waitAsync) so the event loop runs and a dead worker can be noticed.
   */
  async blocksSummed(c: ReceivedCommand, blockMs: number, spinMs = 0): Promise<boolean> {
    const ctl = this.#ctl;
    if (!c.compute) return true;
    spinWhile(() => Atomics.load(ctl, BLOCKS_DONE) < c.blocks.length && Atomics.load(ctl, FAILED) === 0, spinMs);
    const until = performance.now() + blockMs;
    for (let left = blockMs; left > 0; left = until - performance.now()) {
      if (Atomics.load(ctl, FAILED) !== 0) return false;
      const done = Atomics.load(ctl, BLOCKS_DONE);
      if (done >= c.blocks.length) return true;
      Atomics.wait(ctl, BLOCKS_DONE, done, left);
    }
    for (;;) {
      if (Atomics.load(ctl, FAILED) !== 0) return false;
      const done = Atomics.load(ctl, BLOCKS_DONE);
      if (done >= c.blocks.length) return true;
      const wait = Atomics.waitAsync(ctl, BLOCKS_DONE, done, 50);
      if (wait.async) await wait.value;
    }
  }

  /** Tells the threads to leave their serve loop. */
  stop(): void {
    const seq = Atomics.load(this.#ctl, SEQ) + 1;
    this.#slots[seq & 1][KIND] = Kind.stop;
    Atomics.store(this.#ctl, NEXT_BLOCK, tagOf(seq));
    Atomics.store(this.#ctl, SEQ, seq);
    Atomics.notify(this.#ctl, SEQ);
  }

  /**
   * Resolves when FINISHED reaches `target` (null), or a thread failed (its message). Like
   * blocksSummed, it blocks for at most `blockMs` before awaiting.
   */
  async finished(target: number, blockMs = 0, spinMs = 0): Promise<string | null> {
    const ctl = this.#ctl;
    spinWhile(() => Atomics.load(ctl, FINISHED) < target && Atomics.load(ctl, FAILED) === 0, spinMs);
    const until = performance.now() + blockMs;
    for (let left = blockMs; left > 0; left = until - performance.now()) {
      const now = Atomics.load(ctl, FINISHED);
      if (Atomics.load(ctl, FAILED) !== 0 || now >= target) break;
      Atomics.wait(ctl, FINISHED, now, left);
    }
    for (;;) {
      const failed = Atomics.load(ctl, FAILED);
      if (failed === 1) return this.#errorMessage();
      const now = Atomics.load(ctl, FINISHED);
      if (now >= target) return null;
      // A failing thread is mid-message: check again shortly.
      const wait = Atomics.waitAsync(ctl, FINISHED, now, failed === 2 ? 1 : Infinity);
      if (wait.async) await wait.value;
    }
  }

  /** Block i's loss sum (NaN: it was marked not finite). */
  blockLoss(i: number): number {
    return this.#loss[i];
  }

  /** Block i of the finished command as a BlockSum over `grad`, its result buffer (one object, no temporary). */
  blockSum(i: number, block: { start: number; len: number }, grad: Float32Array): BlockSum {
    return { start: block.start, len: block.len, grad, lossSum: this.#loss[i], correct: this.#counts[2 * i], count: this.#counts[2 * i + 1] };
  }

  /**
   * The timing rows of command `seq` (read after it finished): one entry per thread, null for a
   * thread that had not seen the command yet (it did none of its work).
   */
  threadTimings(seq: number): (ThreadTiming | null)[] {
    const rows = this.#rows;
    const rowSeq = this.#rowSeq;
    if (!rows || !rowSeq) return [];
    return Array.from(rowSeq, (s, t) => {
      if (Atomics.load(rowSeq, t) !== seq) return null;
      const at = t * TIMING_WORDS;
      return {
        wake: rows[at + T_WAKE], firstClaim: rows[at + T_FIRST_CLAIM], phase1Busy: rows[at + T_P1_BUSY], phase1End: rows[at + T_P1_END],
        phase2Start: rows[at + T_P2_START], combineBusy: rows[at + T_COMBINE_BUSY], updateBusy: rows[at + T_UPDATE_BUSY],
        phase2End: rows[at + T_P2_END], blocks: rows[at + T_BLOCKS], ranges: rows[at + T_RANGES],
      };
    });
  }

  #errorMessage(): string {
    const n = Atomics.load(this.#ctl, ERROR_LENGTH);
    return new TextDecoder().decode(this.#error.slice(0, n));
  }

  // --- worker threads ------------------------------------------------------------------------------

  /**
   * A thread's stamper for its timing row `row` (null when timing is off, so that an untimed pool
   * takes no timestamps). Every stamp of a command is written before the thread's blockDone or
   * rangeDone of it, so the main thread sees them once the command has finished.
   */
  timer(row: number): ThreadTimer | null {
    if (!this.#rows || !this.#rowSeq || row >= this.#rowSeq.length) return null;
    return new ThreadTimer(this, this.#rowSeq, this.#rows, row);
  }

  /**
   * Blocks until there is a command newer than `seen`, and returns it. With `spinMs`, it first polls
   * that long: the next step's command usually comes within tens of microseconds, and a thread that
   * sleeps (a virtual CPU that halts) can take far longer than that to wake.
   */
  next(seen: number, spinMs = 0): ReceivedCommand {
    spinWhile(() => Atomics.load(this.#ctl, SEQ) === seen, spinMs);
    if (Atomics.load(this.#ctl, SEQ) === seen) Atomics.wait(this.#ctl, SEQ, seen);
    const seq = Atomics.load(this.#ctl, SEQ);
    const slot = this.#slots[seq & 1];
    // Plain loops: Array.from with a mapper cost the thread 0.6 µs a step (measured).
    const blocks: { start: number; len: number; result: number }[] = [];
    for (let i = 0, n = Math.min(slot[BLOCKS], this.maxBlocks); i < n; i++) {
      blocks.push({ start: slot[HEADER_WORDS + 3 * i], len: slot[HEADER_WORDS + 3 * i + 1], result: slot[HEADER_WORDS + 3 * i + 2] });
    }
    const pieces: { start: number; len: number }[] = [];
    const pieceBase = HEADER_WORDS + 3 * this.maxBlocks;
    for (let i = 0, n = Math.min(slot[PIECES], this.maxBlocks); i < n; i++) pieces.push({ start: slot[pieceBase + 2 * i], len: slot[pieceBase + 2 * i + 1] });
    return {
      seq,
      kind: slot[KIND], phase2: slot[PHASE2], step: slot[STEP], batchStart: slot[BATCH_START], batchSize: slot[BATCH_SIZE],
      shuffled: slot[SHUFFLED] === 1, shards: slot[SHARDS], ranges: slot[RANGES], compute: slot[COMPUTE] === 1,
      checkFinite: slot[CHECK_FINITE] === 1, blocks, pieces,
    };
  }

  /** Claims the next item of a tagged counter for command `seq`; -1 when none is left or seq is stale. */
  #claim(index: number, seq: number, total: number): number {
    const ctl = this.#ctl;
    for (;;) {
      const word = Atomics.load(ctl, index);
      if ((word & ~COUNT_MASK) !== tagOf(seq)) return -1;
      const n = word & COUNT_MASK;
      if (n >= total) return -1;
      if (Atomics.compareExchange(ctl, index, word, word + 1) === word) return n;
    }
  }

  claimBlock(c: ReceivedCommand): number {
    return this.#claim(NEXT_BLOCK, c.seq, c.blocks.length);
  }

  /**
   * Claims a parameter range of command c, range `home` first (the thread's own), then the lowest one
   * left; -1 when none is left or c is stale.
   */
  claimRange(c: ReceivedCommand, home: number): number {
    const claims = this.#rangeClaims;
    const free = tagOf(c.seq);
    if (home < c.ranges && Atomics.compareExchange(claims, home, free, free | 1) === free) return home;
    for (let r = 0; r < c.ranges; r++) {
      if (Atomics.compareExchange(claims, r, free, free | 1) === free) return r;
    }
    return -1;
  }

  /** Records a claimed block's stats; the last block completes a command without phase 2. */
  blockDone(c: ReceivedCommand, i: number, stats: Stats): void {
    this.#loss[i] = stats.lossSum;
    this.#counts[2 * i] = stats.correct;
    this.#counts[2 * i + 1] = stats.count;
    if (Atomics.add(this.#ctl, BLOCKS_DONE, 1) + 1 === c.blocks.length) {
      if (c.phase2 === Phase2.none) this.#finish();
      else Atomics.notify(this.#ctl, BLOCKS_DONE);
    }
  }

  /** Waits until every block of the command is summed (polling `spinMs` first); false if the command failed or was replaced. */
  awaitBlocks(c: ReceivedCommand, spinMs = 0): boolean {
    const ctl = this.#ctl;
    if (!c.compute) return true;
    spinWhile(() => Atomics.load(ctl, BLOCKS_DONE) < c.blocks.length && Atomics.load(ctl, FAILED) === 0, spinMs);
    for (;;) {
      if (Atomics.load(ctl, FAILED) !== 0 || Atomics.load(ctl, SEQ) !== c.seq) return false;
      const done = Atomics.load(ctl, BLOCKS_DONE);
      if (done >= c.blocks.length) return true;
      Atomics.wait(ctl, BLOCKS_DONE, done, 50);
    }
  }

  /** Marks a claimed range done; the last one completes the command. */
  rangeDone(c: ReceivedCommand): void {
    if (Atomics.add(this.#ctl, RANGES_DONE, 1) + 1 === c.ranges) this.#finish();
  }

  #finish(): void {
    Atomics.add(this.#ctl, FINISHED, 1);
    Atomics.notify(this.#ctl, FINISHED);
  }

  /** Records a thread's failure and wakes everyone (threads at the barrier, the main thread). */
  fail(message: string): void {
    if (Atomics.compareExchange(this.#ctl, FAILED, 0, 2) !== 0) return;
    const bytes = new TextEncoder().encode(message).slice(0, ERROR_BYTES);
    this.#error.set(bytes);
    Atomics.store(this.#ctl, ERROR_LENGTH, bytes.length);
    Atomics.store(this.#ctl, FAILED, 1);
    Atomics.notify(this.#ctl, BLOCKS_DONE);
    Atomics.notify(this.#ctl, FINISHED);
  }
}

/** Stamps one thread's timing row (see StepChannel.timer). */
export class ThreadTimer {
  readonly #channel: StepChannel;
  readonly #rowSeq: Int32Array;
  readonly #row: Float64Array;
  readonly #index: number;
  #started = 0;

  constructor(channel: StepChannel, rowSeq: Int32Array, rows: Float64Array, index: number) {
    this.#channel = channel;
    this.#rowSeq = rowSeq;
    this.#row = rows.subarray(index * TIMING_WORDS, (index + 1) * TIMING_WORDS);
    this.#index = index;
  }

  /** The thread saw command `seq`: clears its row and tags it (the tag last, so a tagged row is clean). */
  wake(seq: number): void {
    const r = this.#row;
    r.fill(Number.NaN);
    r[T_WAKE] = this.#channel.now();
    r[T_P1_BUSY] = 0;
    r[T_COMBINE_BUSY] = 0;
    r[T_UPDATE_BUSY] = 0;
    r[T_BLOCKS] = 0;
    r[T_RANGES] = 0;
    Atomics.store(this.#rowSeq, this.#index, seq);
  }

  /** A block was claimed: its summing starts now. */
  blockClaimed(): void {
    this.#started = this.#channel.now();
    if (Number.isNaN(this.#row[T_FIRST_CLAIM])) this.#row[T_FIRST_CLAIM] = this.#started;
  }

  /** The claimed block is summed (call before blockDone). */
  blockSummed(): void {
    const now = this.#channel.now();
    this.#row[T_P1_BUSY] += now - this.#started;
    this.#row[T_P1_END] = now;
    this.#row[T_BLOCKS] += 1;
  }

  /** The thread passed the phase-1 barrier. */
  phase2Started(): void {
    this.#row[T_P2_START] = this.#channel.now();
  }

  /** A range was claimed: its combining starts now. */
  rangeClaimed(): void {
    this.#started = this.#channel.now();
  }

  /** The range's blocks are combined; an update, if any, starts now. */
  combined(): void {
    const now = this.#channel.now();
    this.#row[T_COMBINE_BUSY] += now - this.#started;
    this.#started = now;
  }

  /** The range is done (call before rangeDone); `updated`: the time since combined() was the update. */
  rangeFinished(updated: boolean): void {
    const now = this.#channel.now();
    if (updated) this.#row[T_UPDATE_BUSY] += now - this.#started;
    this.#row[T_P2_END] = now;
    this.#row[T_RANGES] += 1;
  }
}
