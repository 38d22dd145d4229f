import { describe, expect, it } from 'vitest';
import { CnnError } from '../errors.js';
import { outputAndPadding, windowGeometry } from './geometry.js';

describe("outputAndPadding: TensorFlow/Keras 'valid' and 'same'", () => {
  // [in, kernel, stride, padding, out, padBefore]; 'same' pads max((out - 1) s + k - in, 0), the smaller half first.
  const table: [number, number, number, 'valid' | 'same', number, number][] = [
    [28, 2, 1, 'valid', 27, 0], // the tutorial's conv: 27x27
    [27, 2, 2, 'valid', 13, 0], // its 2x2 pool: 13x13 (the last row/column is dropped)
    [28, 5, 1, 'same', 28, 2], // lenet5's first conv: 2 on each side
    [14, 5, 1, 'valid', 10, 0],
    [4, 2, 1, 'same', 4, 0], // total 1: 0 before, 1 after
    [5, 4, 1, 'same', 5, 1], // total 3: 1 before, 2 after
    [7, 2, 2, 'same', 4, 0], // total 1
    [7, 3, 2, 'same', 4, 1], // total 2
    [6, 3, 2, 'same', 3, 0], // total 1
    [7, 3, 2, 'valid', 3, 0],
    [9, 3, 2, 'valid', 4, 0],
    [5, 1, 3, 'same', 2, 0], // total 0: (2 - 1) 3 + 1 - 5 < 0
    [3, 3, 1, 'valid', 1, 0],
    [1, 3, 1, 'same', 1, 1],
  ];
  for (const [inSize, k, s, padding, out, padBefore] of table) {
    it(`in ${inSize}, kernel ${k}, stride ${s}, ${padding} -> out ${out}, ${padBefore} before`, () => {
      expect(outputAndPadding(inSize, k, s, padding)).toEqual({ out, padBefore });
    });
  }

  it("rejects a window larger than a 'valid' input with a hint", () => {
    const err = (() => {
      try {
        outputAndPadding(3, 5, 1, 'valid');
      } catch (e) {
        return e;
      }
    })() as CnnError;
    expect(err).toBeInstanceOf(CnnError);
    expect(err.code).toBe('CNN_ERR_BAD_SHAPE');
    expect(err.message).toMatch(/smaller than the window 5.*'same'/);
  });

  it('windowGeometry combines both axes independently', () => {
    expect(windowGeometry([7, 8, 3], [3, 2], [2, 1], 'same')).toEqual({
      inH: 7, inW: 8, inC: 3, kH: 3, kW: 2, strideH: 2, strideW: 1, outH: 4, outW: 8, padTop: 1, padLeft: 0,
    });
  });
});
