/*
 * Hand-computed convolutions (numbers checked on paper), through the public layer API
 * (setWeights + predict) and, for the backward pass, through the kernels directly.
 */
import { describe, expect, it } from 'vitest';
import { layers } from '../layers/index.js';
import { Sequential } from '../model/sequential.js';
import { tensor } from '../tensor.js';
import { conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, conv2dScratchSize } from './conv2d.js';
import { windowGeometry } from './geometry.js';

const X3 = [1, 2, 3, 4, 5, 6, 7, 8, 9]; // [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
const X4 = Array.from({ length: 16 }, (_, i) => i + 1); // [[1..4], [5..8], [9..12], [13..16]]
const X5 = Array.from({ length: 25 }, (_, i) => i + 1);

/** A one-conv model with the given weights; returns the prediction for one image as a flat array. */
function conv(config: Parameters<typeof layers.conv2d>[0], inShape: number[], x: number[], kernel: number[], bias?: number[]): number[] {
  const model = new Sequential({ layers: [layers.conv2d({ ...config, inputShape: inShape })] });
  const c = config.filters;
  const k = typeof config.kernelSize === 'number' ? [config.kernelSize, config.kernelSize] : config.kernelSize;
  const weights = [tensor(kernel, [k[0], k[1], inShape[2], c])];
  if (config.useBias !== false) weights.push(tensor(bias ?? new Array(c).fill(0), [c]));
  model.setWeights(weights);
  return Array.from(model.predict(tensor(x, [1, ...inShape])).dataSync());
}

describe('conv2d forward, by hand', () => {
  it('3x3 input, 2x2 kernel [[1, 2], [3, 4]], valid, bias 0.5', () => {
    // y00 = 1*1 + 2*2 + 4*3 + 5*4 = 37, y01 = 2 + 6 + 15 + 24 = 47, y10 = 67, y11 = 77
    expect(conv({ filters: 1, kernelSize: 2 }, [3, 3, 1], X3, [1, 2, 3, 4], [0.5])).toEqual([37.5, 47.5, 67.5, 77.5]);
  });

  it('two input channels and two filters use the Keras kernel layout [kh, kw, in, out]', () => {
    // channel 0 = X3, channel 1 = a checkerboard; filter 0 reads channel 0 with [[1, 2], [3, 4]],
    // filter 1 reads channel 1 with [[1, -1], [-1, 1]]; bias [0.5, -1].
    const ch1 = [1, 0, 1, 0, 1, 0, 1, 0, 1];
    const x = X3.flatMap((v, i) => [v, ch1[i]]);
    // kernel[kh][kw][ci][co]: (ci 0, co 0) = [[1, 2], [3, 4]]; (ci 1, co 1) = [[1, -1], [-1, 1]]; others 0
    const kernel = [
      1, 0, /* ci 1 */ 0, 1, // kh 0, kw 0
      2, 0, /* ci 1 */ 0, -1, // kh 0, kw 1
      3, 0, /* ci 1 */ 0, -1, // kh 1, kw 0
      4, 0, /* ci 1 */ 0, 1, // kh 1, kw 1
    ];
    // filter 1: windows of the checkerboard [[1,0],[0,1]] -> 2, [[0,1],[1,0]] -> -2
    expect(conv({ filters: 2, kernelSize: 2 }, [3, 3, 2], x, kernel, [0.5, -1])).toEqual([37.5, 1, 47.5, -3, 67.5, -3, 77.5, 1]);
  });

  it("'same' with an even kernel pads 0 before and 1 after (Keras), so the last row and column see zeros", () => {
    // y[i][j] = x[i][j] + 2 x[i][j+1] + 3 x[i+1][j] + 4 x[i+1][j+1], zero outside the 4x4 input.
    // Padding 1 before would give y00 = 4 * 1 = 4 instead of 44.
    expect(conv({ filters: 1, kernelSize: 2, padding: 'same', useBias: false }, [4, 4, 1], X4, [1, 2, 3, 4])).toEqual([
      44, 54, 64, 28,
      84, 94, 104, 44,
      124, 134, 144, 60,
      41, 44, 47, 16,
    ]);
  });

  it("'same', kernel 3, stride 2 on 4x4: 2x2 output, padding 0 before and 1 after", () => {
    // sums of 3x3 windows starting at rows/cols 0 and 2: 1+2+3+5+6+7+9+10+11 = 54, 3+4+7+8+11+12 = 45, ...
    const ones = new Array(9).fill(1);
    expect(conv({ filters: 1, kernelSize: 3, strides: 2, padding: 'same' }, [4, 4, 1], X4, ones)).toEqual([54, 45, 72, 54]);
    // relu after a bias of -50: [4, 0, 22, 4]
    expect(conv({ filters: 1, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }, [4, 4, 1], X4, ones, [-50])).toEqual([4, 0, 22, 4]);
  });

  it('valid, kernel 3, stride 2 on 5x5: windows at rows/cols 0 and 2', () => {
    const ones = new Array(9).fill(1);
    expect(conv({ filters: 1, kernelSize: 3, strides: 2 }, [5, 5, 1], X5, ones)).toEqual([63, 81, 153, 171]);
  });

  it('a non-square kernel and strides: kernel [1, 3], strides [2, 1] on 3x4', () => {
    // rows 0 and 2; y = x[j] - x[j+2] over each row: row 0 of X4 (3x4 = first 12): 1-3, 2-4; row 2: 9-11, 10-12
    expect(conv({ filters: 1, kernelSize: [1, 3], strides: [2, 1] }, [3, 4, 1], X4.slice(0, 12), [1, 0, -1])).toEqual([-2, -2, -2, -2]);
  });
});

describe('conv2d backward, by hand', () => {
  it('3x3 input, 2x2 kernel [[1, 2], [3, 4]], dy = 1 everywhere', () => {
    const g = windowGeometry([3, 3, 1], [2, 2], [1, 1], 'valid');
    const scratch = new Float64Array(conv2dScratchSize(g, 1));
    const x = Float32Array.from(X3);
    const w = Float32Array.from([1, 2, 3, 4]);
    const dy = new Float32Array(4).fill(1);
    const dw = new Float32Array(4);
    const db = new Float32Array(1);
    conv2dBackwardFilter(g, 1, 1, x, dy, dw, db, scratch);
    // each tap sums the input it sees over the 4 windows: (0,0) 1+2+4+5, (0,1) 2+3+5+6, ...
    expect(Array.from(dw)).toEqual([12, 16, 24, 28]);
    expect(Array.from(db)).toEqual([4]);
    const dx = new Float32Array(9);
    conv2dBackwardInput(g, 1, 1, dy, w, dx, scratch);
    // the "full" correlation: corners see one tap, edges two, the centre all four
    expect(Array.from(dx)).toEqual([1, 3, 2, 4, 10, 6, 3, 7, 4]);
  });

  it('overwrites (does not accumulate into) dw and dbias, and handles a batch of 2', () => {
    const g = windowGeometry([3, 3, 1], [2, 2], [1, 1], 'valid');
    const scratch = new Float64Array(conv2dScratchSize(g, 1));
    const x = Float32Array.from([...X3, ...X3.map((v) => -v)]);
    const dy = Float32Array.from([1, 1, 1, 1, 1, 0, 0, 0]);
    const dw = new Float32Array(4).fill(100);
    const db = new Float32Array(1).fill(100);
    conv2dBackwardFilter(g, 1, 2, x, dy, dw, db, scratch);
    // sample 0 as above; sample 1 only its first window (-1, -2, -4, -5)
    expect(Array.from(dw)).toEqual([11, 14, 20, 23]);
    expect(Array.from(db)).toEqual([5]);
  });

  it('forward kernel works on a batch and skips nothing but zero inputs', () => {
    const g = windowGeometry([3, 3, 1], [2, 2], [1, 1], 'valid');
    const y = new Float32Array(8);
    conv2dForward(g, 1, 2, Float32Array.from([...X3, ...new Array(9).fill(0)]), Float32Array.from([1, 2, 3, 4]), Float32Array.from([0.5]), y, new Float64Array(conv2dScratchSize(g, 1)));
    expect(Array.from(y)).toEqual([37.5, 47.5, 67.5, 77.5, 0.5, 0.5, 0.5, 0.5]);
  });
});
