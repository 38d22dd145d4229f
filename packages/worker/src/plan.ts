import { treeSpan } from '@cnn/core';

/** Most a thread's share of a step may exceed an even split before blocks are cut smaller. */
const MAX_IMBALANCE = 1.15;

/**
 * The block length for spreading M shards over T threads: the largest aligned subtree size whose
 * blocks can be dealt to the threads with the busiest one at most MAX_IMBALANCE over an even share
 * (bigger blocks mean fewer result buffers to combine; smaller ones, better balance).
 */
export function blockLength(shards: number, threads: number): number {
  const even = shards / threads;
  for (let len = treeSpan(shards); len > 1; len /= 2) {
    const blocks = Math.ceil(shards / len);
    const busiest = Math.ceil(blocks / threads) * len;
    if (blocks >= Math.min(threads, shards) && busiest <= even * MAX_IMBALANCE) return len;
  }
  return 1;
}

/** The aligned blocks of a step with M shards on T threads, in tree order. */
export function planBlocks(shards: number, threads: number): { start: number; len: number }[] {
  const len = blockLength(shards, threads);
  const blocks: { start: number; len: number }[] = [];
  for (let start = 0; start < shards; start += len) blocks.push({ start, len });
  return blocks;
}

/** Result buffers and the longest block any step of up to `maxShards` shards can need. */
export function planLimits(maxShards: number, threads: number): { blocks: number; longest: number } {
  let blocks = 1;
  let longest = 1;
  for (let m = 1; m <= maxShards; m++) {
    const plan = planBlocks(m, threads);
    blocks = Math.max(blocks, plan.length);
    longest = Math.max(longest, plan[0].len);
  }
  return { blocks, longest };
}

/** Cuts [0, total) into `parts` contiguous ranges whose starts are multiples of `align` (cache lines). */
export function splitRange(total: number, parts: number, align = 16): [number, number][] {
  const ranges: [number, number][] = [];
  const step = Math.ceil(total / parts / align) * align;
  for (let begin = 0; begin < total; begin += step) ranges.push([begin, Math.min(total, begin + step)]);
  return ranges;
}
