/*
 * Hand-computed pooling (numbers checked on paper), forward through the public layer API and
 * backward through the kernels. Padding cells never take part (TensorFlow): max and min ignore them,
 * the average divides by the number of real cells.
 */
import { describe, expect, it } from 'vitest';
import { layers } from '../layers/index.js';
import { Sequential } from '../model/sequential.js';
import { tensor } from '../tensor.js';
import { windowGeometry } from './geometry.js';
import { avgPoolBackward, extremePoolBackward, extremePoolForward } from './pool2d.js';

type Kind = 'max' | 'avg' | 'min';
const make = { max: layers.maxPooling2d, avg: layers.averagePooling2d, min: layers.minPooling2d };

function pool(kind: Kind, config: Parameters<typeof layers.maxPooling2d>[0], inShape: number[], x: number[]): { shape: number[]; values: number[] } {
  const model = new Sequential({ layers: [make[kind]({ ...config, inputShape: inShape })] });
  const y = model.predict(tensor(x, [1, ...inShape]));
  return { shape: [...y.shape], values: Array.from(y.dataSync()) };
}

const X4 = [1, 5, 2, 0, 3, 4, 8, 7, 9, 0, 1, 1, 2, 6, 3, 5]; // [[1,5,2,0],[3,4,8,7],[9,0,1,1],[2,6,3,5]]
const X3 = [1, 2, 3, 4, 5, 6, 7, 8, 9];
const X5 = Array.from({ length: 25 }, (_, i) => i + 1);

describe('pooling forward, by hand', () => {
  it('2x2, stride 2 (the default), valid on 4x4', () => {
    expect(pool('max', {}, [4, 4, 1], X4)).toEqual({ shape: [1, 2, 2, 1], values: [5, 8, 9, 5] });
    expect(pool('min', {}, [4, 4, 1], X4)).toEqual({ shape: [1, 2, 2, 1], values: [1, 0, 0, 1] });
    expect(pool('avg', {}, [4, 4, 1], X4)).toEqual({ shape: [1, 2, 2, 1], values: [3.25, 4.25, 4.25, 2.5] });
  });

  it("'same' on 3x3: windows of 4, 2, 2 and 1 real cells (padding after)", () => {
    // windows: {1,2,4,5}, {3,6}, {7,8}, {9}
    expect(pool('avg', { padding: 'same' }, [3, 3, 1], X3).values).toEqual([3, 4.5, 7.5, 9]); // counting pads would give 3, 2.25, 3.75, 2.25
    expect(pool('max', { padding: 'same' }, [3, 3, 1], X3.map((v) => -v)).values).toEqual([-1, -3, -7, -9]); // a pad of 0 would win
    expect(pool('min', { padding: 'same' }, [3, 3, 1], X3).values).toEqual([1, 3, 7, 9]); // a pad of 0 would win
    expect(pool('max', { padding: 'same' }, [3, 3, 1], X3).shape).toEqual([1, 2, 2, 1]);
  });

  it('valid drops the odd last row and column: 2x2 on 3x3 is one window', () => {
    expect(pool('max', {}, [3, 3, 1], X3)).toEqual({ shape: [1, 1, 1, 1], values: [5] });
  });

  it('pool 3, stride 2 on 5x5: overlapping windows at rows/cols 0 and 2', () => {
    expect(pool('max', { poolSize: 3, strides: 2 }, [5, 5, 1], X5).values).toEqual([13, 15, 23, 25]);
    expect(pool('min', { poolSize: 3, strides: 2 }, [5, 5, 1], X5).values).toEqual([1, 3, 11, 13]);
    expect(pool('avg', { poolSize: 3, strides: 2 }, [5, 5, 1], X5).values).toEqual([7, 9, 17, 19]);
  });

  it("pool 3, stride 1, 'same' on 3x3: one cell of padding on each side", () => {
    // corners see 4 cells, edges 6, the centre 9
    expect(pool('avg', { poolSize: 3, strides: 1, padding: 'same' }, [3, 3, 1], X3).values).toEqual([3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7]);
    expect(pool('max', { poolSize: 3, strides: 1, padding: 'same' }, [3, 3, 1], X3).values).toEqual([5, 6, 6, 8, 9, 9, 8, 9, 9]);
  });

  it('pools each channel on its own', () => {
    const x = X4.flatMap((v) => [v, 10 - v]); // channel 1's max is 10 - channel 0's min
    expect(pool('max', {}, [4, 4, 2], x).values).toEqual([5, 9, 8, 10, 9, 10, 5, 9]);
  });
});

describe('pooling backward, by hand', () => {
  it("average 'same' on 3x3 shares each window's gradient among its real cells", () => {
    const g = windowGeometry([3, 3, 1], [2, 2], [2, 2], 'same');
    const dx = new Float32Array(9).fill(NaN);
    avgPoolBackward(g, 1, Float32Array.from([1, 1, 1, 1]), dx);
    expect(Array.from(dx)).toEqual([0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.5, 0.5, 1]);
  });

  it('max with overlapping windows sums the gradients of every window a cell wins', () => {
    // pool 3, stride 1 on 3x4: two windows, both won by 99 at (1, 1)
    const g = windowGeometry([3, 4, 1], [3, 3], [1, 1], 'valid');
    const x = Float32Array.from([0, 1, 2, 3, 4, 99, 5, 6, 7, 8, 9, 10]);
    const y = new Float32Array(2);
    const arg = new Int32Array(2);
    extremePoolForward('max', g, 1, x, y, arg);
    expect(Array.from(y)).toEqual([99, 99]);
    const dx = new Float32Array(12).fill(NaN);
    extremePoolBackward(1, 12, 2, Float32Array.from([1, 2]), arg, dx);
    expect(Array.from(dx)).toEqual([0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0]);
  });

  it('max and min route to the first winner on ties, for each sample of a batch', () => {
    const g = windowGeometry([2, 2, 1], [2, 2], [2, 2], 'valid');
    const x = Float32Array.from([2, 2, 2, 2, /* sample 1 */ 1, 3, 3, 1]);
    const y = new Float32Array(2);
    const arg = new Int32Array(2);
    const dx = new Float32Array(8);
    extremePoolForward('max', g, 2, x, y, arg);
    extremePoolBackward(2, 4, 1, Float32Array.from([1, 5]), arg, dx);
    expect(Array.from(dx)).toEqual([1, 0, 0, 0, 0, 5, 0, 0]);
    extremePoolForward('min', g, 2, x, y, arg);
    expect(Array.from(y)).toEqual([2, 1]);
    extremePoolBackward(2, 4, 1, Float32Array.from([1, 5]), arg, dx);
    expect(Array.from(dx)).toEqual([1, 0, 0, 0, 5, 0, 0, 0]);
  });

  it('a NaN in a window wins, so divergence shows', () => {
    const g = windowGeometry([2, 2, 1], [2, 2], [2, 2], 'valid');
    const y = new Float32Array(1);
    extremePoolForward('max', g, 1, Float32Array.from([1, NaN, 3, 2]), y, null);
    expect(y[0]).toBeNaN();
  });
});
