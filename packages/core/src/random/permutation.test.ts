import { describe, expect, it } from 'vitest';
import { epochPermutation } from './permutation.js';

const isPermutation = (p: Int32Array) => [...p].sort((a, b) => a - b).every((v, i) => v === i);

describe('epochPermutation(seed, epoch, n)', () => {
  it('is a permutation of 0..n-1', () => {
    for (const n of [0, 1, 2, 3, 10, 257, 60000]) expect(isPermutation(epochPermutation(1, 0, n)), `n = ${n}`).toBe(true);
  });

  it('is a pure function of (seed, epoch, n)', () => {
    expect(Array.from(epochPermutation(5, 3, 1000))).toEqual(Array.from(epochPermutation(5, 3, 1000)));
    // writing into a reused buffer gives the same order
    const out = new Int32Array(1000).fill(-1);
    epochPermutation(9, 9, 1000, out);
    expect(Array.from(epochPermutation(5, 3, 1000, out))).toEqual(Array.from(epochPermutation(5, 3, 1000)));
  });

  it('differs between epochs and between seeds, and actually shuffles', () => {
    const base = Array.from(epochPermutation(5, 3, 1000));
    expect(Array.from(epochPermutation(5, 4, 1000))).not.toEqual(base);
    expect(Array.from(epochPermutation(6, 3, 1000))).not.toEqual(base);
    const fixedPoints = base.filter((v, i) => v === i).length;
    expect(fixedPoints).toBeLessThan(10); // about 1 expected
  });

  it('puts every element in every position about equally often', () => {
    // 4000 epochs of n = 4: each (element, position) pair should occur ~1000 times.
    const counts = Array.from({ length: 4 }, () => new Array(4).fill(0));
    for (let epoch = 0; epoch < 4000; epoch++) epochPermutation(11, epoch, 4).forEach((v, pos) => counts[v][pos]++);
    for (const row of counts) for (const c of row) expect(Math.abs(c - 1000)).toBeLessThan(130);
  });
});
