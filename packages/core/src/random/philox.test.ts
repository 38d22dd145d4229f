import { describe, expect, it } from 'vitest';
import { CounterRandom, mulhi, philox4x32, Purpose } from './philox.js';

describe('mulhi', () => {
  it('is the high word of the exact 64-bit product, at the edges and on random pairs', () => {
    const edges = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffeffff, 0xffffffff, 0xd2511f53, 0xcd9e8d57];
    const pairs: [number, number][] = edges.flatMap((a) => edges.map((b): [number, number] => [a, b]));
    let s = 12345;
    for (let i = 0; i < 2000; i++) {
      s = Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5;
      const a = s >>> 0;
      s = Math.imul(s ^ (s >>> 13), 0x297a2d39) + 0x9e3779b9;
      pairs.push([a, s >>> 0]);
    }
    for (const [a, b] of pairs) expect(mulhi(a, b), `${a} x ${b}`).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
  });
});

describe('philox4x32 (10 rounds) against the Random123 known-answer vectors', () => {
  // Random123's kat_vectors, "philox4x32 10": counter (4 words), key (2 words) -> output (4 words).
  const KAT: [number[], number[], number[]][] = [
    [[0x00000000, 0x00000000, 0x00000000, 0x00000000], [0x00000000, 0x00000000], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
  ];
  for (const [ctr, key, expected] of KAT) {
    it(`ctr ${ctr.map((v) => v.toString(16)).join(' ')} key ${key.map((v) => v.toString(16)).join(' ')}`, () => {
      const out = new Uint32Array(4);
      philox4x32(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1], out);
      expect(Array.from(out)).toEqual(expected);
    });
  }

  it('accepts signed 32-bit inputs as their unsigned bits', () => {
    const a = new Uint32Array(4);
    const b = new Uint32Array(4);
    philox4x32(-1, -1, -1, -1, -1, -1, a);
    philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, b);
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});

describe('CounterRandom: numbers addressed by (seed, purpose, a, b, index)', () => {
  it('uint32(index) is word index % 4 of the Philox block index / 4, keyed by seed and purpose', () => {
    const rng = new CounterRandom(0x1234, Purpose.dropout, 5, 6);
    const out = new Uint32Array(4);
    for (const index of [0, 1, 2, 3, 4, 7, 8, 4 * 0x100000000 + 2]) {
      const block = Math.floor(index / 4);
      philox4x32(block >>> 0, Math.floor(block / 0x100000000), 5, 6, 0x1234, Purpose.dropout << 16, out);
      expect(rng.uint32(index), `index ${index}`).toBe(out[index % 4]);
    }
  });

  it('does not depend on the order of draws', () => {
    const a = new CounterRandom(9, Purpose.init, 1, 2);
    const forward = Array.from({ length: 50 }, (_, i) => a.uint32(i));
    const b = new CounterRandom(9, Purpose.init, 1, 2);
    const backward = Array.from({ length: 50 }, (_, i) => b.uint32(49 - i)).reverse();
    expect(backward).toEqual(forward);
  });

  it('gives other streams for another seed, purpose, a or b', () => {
    const draw = (r: CounterRandom) => Array.from({ length: 8 }, (_, i) => r.uint32(i));
    const base = draw(new CounterRandom(1, Purpose.shuffle, 0, 0));
    expect(draw(new CounterRandom(2, Purpose.shuffle, 0, 0))).not.toEqual(base);
    expect(draw(new CounterRandom(1, Purpose.dropout, 0, 0))).not.toEqual(base);
    expect(draw(new CounterRandom(1, Purpose.shuffle, 1, 0))).not.toEqual(base);
    expect(draw(new CounterRandom(1, Purpose.shuffle, 0, 1))).not.toEqual(base);
    // seeds past 2^32 reach the key's second word
    expect(draw(new CounterRandom(2 ** 32 + 1, Purpose.shuffle, 0, 0))).not.toEqual(base);
  });

  it('uniform is in [0, 1) with 24 bits, and roughly uniform', () => {
    const r = new CounterRandom(3, Purpose.init);
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 20000; i++) {
      const u = r.uniform(i);
      expect(u >= 0 && u < 1).toBe(true);
      expect(Math.fround(u)).toBe(u);
      buckets[Math.floor(u * 10)]++;
    }
    for (const b of buckets) expect(Math.abs(b - 2000)).toBeLessThan(200); // 2000 +- 4.7 sd
  });

  it('below(n) stays in [0, n) and hits every value', () => {
    const r = new CounterRandom(4, Purpose.shuffle);
    const seen = new Array(7).fill(0);
    for (let i = 0; i < 7000; i++) seen[r.below(7, i)]++;
    for (const c of seen) expect(Math.abs(c - 1000)).toBeLessThan(150);
    // a bound just above 2^31 rejects about half the draws and must still return in range
    const big = 2 ** 31 + 1;
    for (let i = 0; i < 200; i++) {
      const v = r.below(big, i);
      expect(Number.isInteger(v) && v >= 0 && v < big).toBe(true);
    }
  });
});
