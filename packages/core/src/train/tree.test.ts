/*
 * The canonical reduction tree: whoever sums which aligned blocks, the step's gradient has the same bits.
 */
import { describe, expect, it } from 'vitest';
import { layers } from '../layers/index.js';
import { resolveLoss } from '../losses/index.js';
import { Sequential } from '../model/sequential.js';
import { Workspace } from '../model/workspace.js';
import { tensor } from '../tensor.js';
import { gradientOfShard, type StepJob } from './gradient.js';
import { alignedPieces, type BlockSum, combineBlocks, combineSubtree, isAlignedBlock, shardCount, slotsForBlock, sumBlock, treeSpan } from './tree.js';
import { mulberry32 } from '../testing/mulberry.js';
import { caught } from '../testing/caught.js';

const rng = mulberry32;

const MICRO = 2;

/** A small conv net and a batch of B random samples; micro-shards of 2, so M = ceil(B / 2). */
function setup(batchSize: number) {
  const model = new Sequential({
    seed: 3,
    layers: [
      layers.conv2d({ filters: 2, kernelSize: 3, activation: 'relu', inputShape: [6, 6, 1] }),
      layers.maxPooling2d({ poolSize: 2 }),
      layers.flatten(),
      layers.dropout({ rate: 0.25 }),
      layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  const r = rng(batchSize);
  const x = tensor(Float32Array.from({ length: batchSize * 36 }, () => r()), [batchSize, 6, 6, 1]);
  const y = tensor(Int32Array.from({ length: batchSize }, () => Math.floor(r() * 3)), [batchSize], 'int32');
  const shards = shardCount(batchSize, MICRO);
  const ws = Workspace.create(model.network, model.params, { capacity: MICRO, training: true, gradSlots: slotsForBlock(treeSpan(shards)) });
  const job: StepJob = { x, y, indices: null, batchStart: 0, batchSize, microBatch: MICRO, seed: 1, step: 2, loss: resolveLoss('sparse_categorical_crossentropy'), fuseSoftmax: true };
  /** A block's sum, copied out of the workspace (whose slot 0 the next block reuses). */
  const block = (start: number, len: number): BlockSum | null => {
    const s = sumBlock(ws, job, start, len);
    return s && { ...s, grad: s.grad.slice() };
  };
  return { model, ws, job, shards, block };
}

/** A random tiling of [0, M) by aligned blocks (blocks may stick out past M, never lie wholly past it). */
function randomTiling(shards: number, r: () => number): { start: number; len: number }[] {
  const out: { start: number; len: number }[] = [];
  const tile = (lo: number, size: number) => {
    if (lo >= shards) return;
    if (size === 1 || r() < 0.35) out.push({ start: lo, len: size });
    else {
      tile(lo, size / 2);
      tile(lo + size / 2, size / 2);
    }
  };
  tile(0, treeSpan(shards));
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('sumBlock', () => {
  for (const batchSize of [25, 2, 64, 10]) {
    it(`over the whole tree equals the canonical tree built by hand (B = ${batchSize}, M = ${shardCount(batchSize, MICRO)})`, () => {
      const { ws, job, shards, block } = setup(batchSize);
      const leaves = Array.from({ length: shards }, (_, s) => {
        const stats = gradientOfShard(ws, job, s, 0);
        return { grad: ws.gradSlots[0].slice(), ...stats };
      });
      // node = left + right (float32 after each add), or left alone when the right half is empty
      const tree = (lo: number, size: number): Float32Array => {
        if (size === 1) return leaves[lo].grad.slice();
        const left = tree(lo, size / 2);
        if (lo + size / 2 >= shards) return left;
        const right = tree(lo + size / 2, size / 2);
        return left.map((v, i) => v + right[i]);
      };
      const root = block(0, treeSpan(shards))!;
      expect(bits(root.grad)).toEqual(bits(tree(0, treeSpan(shards))));
      expect(root.count).toBe(batchSize);
      expect(root.lossSum).toBeCloseTo(leaves.reduce((a, l) => a + l.lossSum, 0), 10);
      expect(root.correct).toBe(leaves.reduce((a, l) => a + l.correct, 0));
      expect(root.grad.some((v) => v !== 0)).toBe(true);
    });
  }

  it('the tree order matters in float32, so the check above can fail', () => {
    // Summing the same leaves left to right instead gives other bits for M = 13.
    const { ws, job, shards, block } = setup(25);
    const seq = new Float32Array(ws.gradSlots[0].length);
    for (let s = 0; s < shards; s++) {
      gradientOfShard(ws, job, s, 0);
      ws.gradSlots[0].forEach((v, i) => (seq[i] += v));
    }
    expect(bits(block(0, 16)!.grad)).not.toEqual(bits(seq));
  });

  it('returns null for a block wholly past the last shard and rejects unaligned blocks', () => {
    const { ws, job, block } = setup(25);
    expect(block(16, 16)).toBeNull();
    expect(block(14, 2)).toBeNull();
    expect(caught(() => sumBlock(ws, job, 1, 2)).code).toBe('CNN_ERR_BAD_BLOCK');
    expect(caught(() => sumBlock(ws, job, 0, 3)).code).toBe('CNN_ERR_BAD_BLOCK');
  });
});

describe('combineBlocks of any aligned tiling = sumBlock of the whole tree, bitwise', () => {
  for (const batchSize of [25, 2, 1, 64, 12]) {
    it(`B = ${batchSize} (M = ${shardCount(batchSize, MICRO)}), 12 random tilings`, () => {
      const { shards, block } = setup(batchSize);
      const whole = block(0, treeSpan(shards))!;
      const r = rng(1000 + batchSize);
      const tilings = new Set<string>();
      for (let trial = 0; trial < 12; trial++) {
        const tiling = randomTiling(shards, r);
        tilings.add(JSON.stringify([...tiling].sort((a, b) => a.start - b.start)));
        const root = combineBlocks(tiling.map((t) => block(t.start, t.len)!), shards);
        expect(bits(root.grad), JSON.stringify(tiling)).toEqual(bits(whole.grad));
        expect([root.lossSum, root.correct, root.count]).toEqual([whole.lossSum, whole.correct, whole.count]);
      }
      if (shards > 2) expect(tilings.size).toBeGreaterThan(3);
    });
  }

  it('rejects overlapping, unaligned, duplicate, missing and out-of-range blocks', () => {
    const { block } = setup(8); // M = 4
    const b = (start: number, len: number) => block(start, len)!;
    const fake = (start: number, len: number): BlockSum => ({ start, len, grad: new Float32Array(4), lossSum: 0, correct: 0, count: 0 });
    const cases: [string, () => BlockSum[], RegExp][] = [
      ['overlap', () => [b(0, 4), b(2, 2)], /overlap/],
      ['unaligned', () => [b(0, 1), fake(1, 2), b(3, 1)], /not an aligned subtree/],
      ['duplicate start', () => [b(0, 2), b(0, 1), b(2, 2)], /two blocks start at shard 0/],
      ['missing shard', () => [b(0, 2), b(3, 1)], /no block covers shard 2/],
      ['past the end', () => [b(0, 4), fake(4, 1)], /overlap or lie outside/],
    ];
    for (const [what, blocks, message] of cases) {
      const err = caught(() => combineBlocks(blocks(), 4));
      expect(err.code, what).toBe('CNN_ERR_BAD_BLOCK');
      expect(err.message, what).toMatch(message);
    }
  });
});

describe('alignedPieces: how any range of shards becomes tree pieces', () => {
  it('tiles [start, end) exactly once with maximal aligned blocks, for every range up to 40', () => {
    for (let start = 0; start < 40; start++) {
      for (let end = start + 1; end <= 40; end++) {
        const pieces = alignedPieces(start, end);
        let at = start;
        for (const p of pieces) {
          expect(isAlignedBlock(p.start, p.len), `[${start}, ${end})`).toBe(true);
          expect(p.start, `[${start}, ${end}) contiguous`).toBe(at);
          // maximal: doubling the piece would break alignment or leave the range
          expect(p.start % (2 * p.len) !== 0 || p.start + 2 * p.len > end, `[${start}, ${end}): piece ${p.start}+${p.len} could be larger`).toBe(true);
          at += p.len;
        }
        expect(at).toBe(end);
      }
    }
    expect(alignedPieces(3, 13)).toEqual([{ start: 3, len: 1 }, { start: 4, len: 4 }, { start: 8, len: 4 }, { start: 12, len: 1 }]);
  });

  it('pieces of any split of [0, M) combine to the bits of one thread summing everything', () => {
    const { shards, block } = setup(25); // M = 13
    const whole = block(0, treeSpan(shards))!;
    for (const cuts of [[7], [3, 9], [1, 2, 5, 11, 12], [6, 8, 10]]) {
      const bounds = [0, ...cuts, shards];
      const pieces = bounds.slice(1).flatMap((end, i) => alignedPieces(bounds[i], end));
      const root = combineBlocks(pieces.map((p) => block(p.start, p.len)!), shards);
      expect(bits(root.grad), JSON.stringify(cuts)).toEqual(bits(whole.grad));
    }
  });

  it('combineSubtree sums one subtree from smaller blocks, as sumBlock of that subtree does', () => {
    const { shards, block } = setup(25); // M = 13: subtree [8, +8) holds shards 8..12
    const direct = block(8, 8)!;
    const combined = combineSubtree([block(8, 4)!, block(12, 1)!], shards, 8, 8);
    expect(bits(combined.grad)).toEqual(bits(direct.grad));
    expect([combined.start, combined.len, combined.count]).toEqual([8, 8, 9]); // samples 16..24
    expect(caught(() => combineSubtree([block(8, 4)!, block(12, 1)!, block(0, 1)!], shards, 8, 8)).code).toBe('CNN_ERR_BAD_BLOCK');
  });

  it('a subtree whose right half lies past the last shard is its left half, reported as the whole subtree', () => {
    const { shards, block } = setup(20); // M = 10: subtree [8, +8) holds shards 8 and 9 only
    const left = block(8, 2)!;
    const sub = combineSubtree([{ ...left, grad: left.grad.slice() }], shards, 8, 8);
    expect([sub.start, sub.len, sub.count]).toEqual([8, 8, 4]);
    expect(bits(sub.grad)).toEqual(bits(left.grad));
  });
});
