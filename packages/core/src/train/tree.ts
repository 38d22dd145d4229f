import { CnnError } from '../errors.js';
import { addInto } from '../kernels/reduce.js';
import type { Workspace } from '../model/workspace.js';
import { gradientOfShard, type ShardStats, type StepJob } from './gradient.js';

/*
 * The canonical reduction tree. A step's batch of B samples is cut into M = ceil(B / b) micro-shards;
 * the step's gradient is the sum of the shards' gradients combined in ONE fixed binary tree over
 * shard indices 0..M-1: the complete tree over [0, 2^k) (2^k >= M) with absent leaves dropped, each
 * node = left + right, or just left when the right half is empty. A unit of work is an aligned block
 * (a subtree: its length a power of two, its start a multiple of it), so whoever sums a block gets
 * the same bits, and combining blocks in the tree gives the same bits as summing everything alone.
 */

export function shardCount(batchSize: number, microBatch: number): number {
  return Math.ceil(batchSize / microBatch);
}

/** Leaves of the complete tree over M shards: the smallest power of two >= M. */
export function treeSpan(shards: number): number {
  let span = 1;
  while (span < shards) span *= 2;
  return span;
}

/** Gradient slots a workspace needs to sum any block of up to `blockLen` shards: log2(len) + 1. */
export function slotsForBlock(blockLen: number): number {
  return Math.log2(treeSpan(blockLen)) + 1;
}

export function isAlignedBlock(start: number, len: number): boolean {
  return Number.isInteger(start) && Number.isInteger(len) && len >= 1 && (len & (len - 1)) === 0 && start % len === 0;
}

/**
 * The tree's addition. Any implementation must round like float32 a + b (the kernel sets' addInto
 * all do), so a thread may use the fast one on heap buffers and the coordinator the plain one on
 * buffers from the network, with the same bits.
 */
export type AddInto = (a: Float32Array, b: Float32Array, begin?: number, end?: number) => void;

/** A subtree's sum: the gradient (unscaled) and stats of shards [start, start + len) ∩ [0, M). */
export interface BlockSum extends ShardStats {
  readonly start: number;
  readonly len: number;
  readonly grad: Float32Array;
}

function addStats(into: { lossSum: number; correct: number; count: number }, from: ShardStats): void {
  into.lossSum += from.lossSum;
  into.correct += from.correct;
  into.count += from.count;
}

/**
 * Sums the shards of aligned block [start, start + len) in tree order with a stack of partial sums:
 * after each shard, the two top entries merge while they cover subtrees of equal size; at the end
 * (M not a power of two) the rest fold from the right, as the tree's "left alone" nodes do. The sum
 * lands in gradient slot 0. Returns null when the block lies wholly past the last shard.
 */
export function sumBlock(ws: Workspace, job: StepJob, start: number, len: number): BlockSum | null {
  if (!isAlignedBlock(start, len)) throw new CnnError('CNN_ERR_BAD_BLOCK', `block [${start}, +${len}) is not an aligned subtree`);
  const shards = shardCount(job.batchSize, job.microBatch);
  const end = Math.min(start + len, shards);
  if (start >= end) return null;
  if (ws.gradSlots.length < slotsForBlock(len)) {
    throw new Error(`workspace has ${ws.gradSlots.length} gradient slots, a block of ${len} shards needs ${slotsForBlock(len)}`);
  }
  const sizes: number[] = [];
  const stats: ShardStats[] = [];
  for (let shard = start; shard < end; shard++) {
    const top = sizes.length;
    stats.push(gradientOfShard(ws, job, shard, top));
    sizes.push(1);
    while (sizes.length >= 2 && sizes[sizes.length - 1] === sizes[sizes.length - 2]) mergeTop(ws, sizes, stats);
  }
  while (sizes.length >= 2) mergeTop(ws, sizes, stats);
  return { start, len, grad: ws.gradSlots[0], ...stats[0] };
}

function mergeTop(ws: Workspace, sizes: number[], stats: ShardStats[]): void {
  const right = sizes.length - 1;
  ws.kernels.addInto(ws.gradSlots[right - 1], ws.gradSlots[right]);
  addStats(stats[right - 1], stats[right]);
  sizes[right - 1] += sizes[right];
  sizes.pop();
  stats.pop();
}

/**
 * The sum of subtree [start, start + len) of the canonical tree over M shards, from block sums that
 * tile its shards (those lying past M are absent). Adds into the left operand's buffer (block buffers
 * are consumed). With a range, only gradient elements [begin, end) are combined: threads each take a
 * range, and since the additions are element-wise the bits are those of one pass.
 */
export function combineSubtree(
  blocks: readonly BlockSum[], shards: number, start: number, len: number, begin = 0, end = blocks[0]?.grad.length ?? 0, add: AddInto = addInto,
): BlockSum {
  const byStart = new Map<number, BlockSum>();
  for (const b of blocks) {
    if (!isAlignedBlock(b.start, b.len)) throw new CnnError('CNN_ERR_BAD_BLOCK', `block [${b.start}, +${b.len}) is not an aligned subtree`);
    if (byStart.has(b.start)) throw new CnnError('CNN_ERR_BAD_BLOCK', `two blocks start at shard ${b.start}`);
    byStart.set(b.start, b);
  }
  const node = (lo: number, size: number): BlockSum => {
    const exact = byStart.get(lo);
    if (exact && exact.len === size) {
      byStart.delete(lo);
      return exact;
    }
    if (size === 1) throw new CnnError('CNN_ERR_BAD_BLOCK', `no block covers shard ${lo}`);
    const half = size / 2;
    const left = node(lo, half);
    if (lo + half >= shards) return { ...left, start: lo, len: size };
    const right = node(lo + half, half);
    add(left.grad, right.grad, begin, end);
    return { start: lo, len: size, grad: left.grad, lossSum: left.lossSum + right.lossSum, correct: left.correct + right.correct, count: left.count + right.count };
  };
  const root = node(start, len);
  if (byStart.size > 0) throw new CnnError('CNN_ERR_BAD_BLOCK', `blocks overlap or lie outside [${start}, +${len}) of ${shards} shards: ${[...byStart.keys()].join(', ')}`);
  return root;
}

/**
 * Combines block sums that tile the shards [0, M) into the root of the canonical tree. Used alike by
 * a host over its threads' blocks and by the coordinator over hosts' pieces.
 */
export function combineBlocks(blocks: readonly BlockSum[], shards: number, begin = 0, end = blocks[0]?.grad.length ?? 0, add: AddInto = addInto): BlockSum {
  return combineSubtree(blocks, shards, 0, treeSpan(shards), begin, end, add);
}

/** The maximal aligned blocks that tile shards [start, end): how any range becomes tree pieces. */
export function alignedPieces(start: number, end: number): { start: number; len: number }[] {
  const pieces: { start: number; len: number }[] = [];
  let at = start;
  while (at < end) {
    let len = 1;
    while (at % (len * 2) === 0 && at + len * 2 <= end) len *= 2;
    pieces.push({ start: at, len });
    at += len;
  }
  return pieces;
}
