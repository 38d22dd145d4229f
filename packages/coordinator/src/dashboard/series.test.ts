import { describe, expect, it } from 'vitest';
import { RunMetrics } from './metrics.js';
import { Series, type SeriesCursor } from './series.js';

const cursor = (): SeriesCursor => ({ generation: -1, count: 0 });

describe('Series', () => {
  it('keeps every row while under capacity', () => {
    const s = new Series(['last', 'mean'], 8);
    for (let i = 1; i <= 5; i++) s.add([i, i * 10]);
    expect(s.length).toBe(5);
    expect(s.stride).toBe(1);
    expect([0, 1, 2, 3, 4].map((i) => s.point(i))).toEqual([[1, 10], [2, 20], [3, 30], [4, 40], [5, 50]]);
  });

  it('halves when full: each point covers `stride` rows, x is the last row, y the exact mean', () => {
    const s = new Series(['last', 'mean'], 4);
    // Rows (i, i) for i = 1..10: capacity 4 forces two halvings (strides 1 -> 2 -> 4).
    for (let i = 1; i <= 10; i++) s.add([i, i]);
    expect(s.stride).toBe(4);
    expect(s.generation).toBe(2);
    // Points: rows 1-4 (mean 2.5), rows 5-8 (mean 6.5); rows 9-10 are the open bucket.
    expect(s.length).toBe(2);
    expect(s.point(0)).toEqual([4, 2.5]);
    expect(s.point(1)).toEqual([8, 6.5]);
    expect(s.delta(cursor()).tail).toEqual([10, 9.5]);
  });

  it('stays within capacity over a long run, and its mean is the run mean', () => {
    const s = new Series(['last', 'mean'], 64);
    const n = 100_000;
    for (let i = 1; i <= n; i++) s.add([i, i % 7]);
    expect(s.length).toBeLessThanOrEqual(64);
    expect(s.length).toBeGreaterThanOrEqual(32);
    let sum = 0;
    for (let i = 0; i < s.length; i++) sum += s.point(i)[1];
    const covered = s.length * s.stride;
    let exact = 0;
    for (let i = 1; i <= covered; i++) exact += i % 7;
    expect(sum / s.length).toBeCloseTo(exact / covered, 12);
    expect(s.point(s.length - 1)[0]).toBe(covered);
  });

  it('skips missing values in means and sends them as null', () => {
    const s = new Series(['last', 'mean'], 4);
    s.add([1, NaN]);
    s.add([2, 4]);
    expect(s.delta(cursor()).points).toEqual([[1, null], [2, 4]]);
    s.add([3, NaN]);
    s.add([4, NaN]);
    s.add([5, 6]); // halving: (1, NaN) + (2, 4) -> (2, 4); (3, NaN) + (4, NaN) -> (4, NaN)
    expect(s.point(0)).toEqual([2, 4]);
    expect(s.point(1)).toEqual([4, NaN]);
  });

  it('gives a client only what it lacks, and everything after a halving', () => {
    const s = new Series(['last', 'mean'], 4);
    const c = cursor();
    s.add([1, 1]);
    s.add([2, 2]);
    expect(s.delta(c)).toMatchObject({ reset: true, points: [[1, 1], [2, 2]], tail: null });
    s.add([3, 3]);
    expect(s.delta(c)).toMatchObject({ reset: false, points: [[3, 3]] });
    expect(s.delta(c)).toMatchObject({ reset: false, points: [] });
    s.add([4, 4]);
    s.add([5, 5]); // full: halves to (2, 1.5), (4, 3.5), stride 2, row 5 in the open bucket
    expect(s.delta(c)).toEqual({ generation: 1, reset: true, points: [[2, 1.5], [4, 3.5]], tail: [5, 5] });
  });

  it('rounds values for the wire to 6 significant digits', () => {
    const s = new Series(['last', 'mean'], 4);
    s.add([1, 1 / 3]);
    expect(s.delta(cursor()).points).toEqual([[1, 0.333333]]);
  });

  it('refuses a capacity that cannot be halved evenly', () => {
    expect(() => new Series(['mean'], 3)).toThrow(/capacity must be an even integer >= 2, got 3/);
  });
});

describe('RunMetrics', () => {
  it('records steps and epochs and bumps its version on each', () => {
    const m = new RunMetrics({ stepCapacity: 8, epochCapacity: 4 });
    const v0 = m.version;
    m.recordStep(1, 2.3, 0.1);
    m.recordStep(2, undefined, 0.2);
    m.recordEpoch(1, 2, { loss: 2, acc: 0.15, val_loss: 1.9, val_acc: 0.2 });
    expect(m.version).toBe(v0 + 3);
    const d = m.delta(RunMetrics.cursor());
    expect(d.steps).toMatchObject({ reset: true, stride: 1, points: [[1, 2.3, 0.1], [2, null, 0.2]] });
    expect(d.epochs.points).toEqual([[1, 2, 2, 0.15, 1.9, 0.2]]);
  });
});
