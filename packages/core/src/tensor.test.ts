import { describe, expect, it } from 'vitest';
import { caught } from './testing/caught.js';
import { scalar, Tensor, tensor, zeros } from './tensor.js';

describe('tensor(values, shape)', () => {
  it('takes flat values with a shape, and dataSync gives a Float32Array', () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.rank).toBe(2);
    expect(t.size).toBe(6);
    const data = t.dataSync();
    expect(data).toBeInstanceOf(Float32Array);
    expect(Array.from(data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.arraySync()).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  it('infers the shape of nested arrays; a flat array is rank 1; a number is a scalar', () => {
    expect(tensor([[[1], [2]], [[3], [4]]]).shape).toEqual([2, 2, 1]);
    expect(tensor([1, 2, 3]).shape).toEqual([3]);
    expect(scalar(7).shape).toEqual([]);
    expect(scalar(7).arraySync()).toBe(7);
    expect(tensor(Float32Array.from([1, 2]), [2, 1]).shape).toEqual([2, 1]);
  });

  it('rounds values to float32 and keeps int32 tensors integral', () => {
    expect(tensor([0.1]).dataSync()[0]).toBe(Math.fround(0.1));
    const labels = tensor([3, 1, 4], [3], 'int32');
    expect(labels.dtype).toBe('int32');
    expect(labels.dataSync()).toBeInstanceOf(Int32Array);
    expect(caught(() => tensor([1.5], [1], 'int32')).code).toBe('CNN_ERR_BAD_VALUES');
  });

  it('rejects shapes that do not match the values, ragged arrays and bad dimensions', () => {
    expect(caught(() => tensor([1, 2, 3], [2, 2])).code).toBe('CNN_ERR_BAD_SHAPE');
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow('Tensor of shape [2, 2] needs 4 values, got 3');
    expect(caught(() => tensor([[1, 2], [3]])).code).toBe('CNN_ERR_BAD_SHAPE');
    expect(caught(() => tensor([1, 2], [-1, 2])).code).toBe('CNN_ERR_BAD_SHAPE');
    expect(caught(() => zeros([2, 1.5])).code).toBe('CNN_ERR_BAD_SHAPE');
    expect(caught(() => tensor(['a' as never])).code).toBe('CNN_ERR_BAD_VALUES');
  });

  it('reads uint8 storage with a scale as float32 (how MNIST pixels are kept)', () => {
    const t = new Tensor(Uint8Array.from([0, 51, 255]), [3], 'float32', 1 / 255);
    expect(Array.from(t.dataSync())).toEqual([0, Math.fround(0.2), 1]);
    expect(t.dataSync()).toBeInstanceOf(Float32Array);
  });

  it('reshape with -1', () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [6]).reshape([-1, 2]);
    expect(t.shape).toEqual([3, 2]);
    expect(caught(() => t.reshape([4, -1])).code).toBe('CNN_ERR_BAD_SHAPE');
  });
});

describe('slice(begin, size) as in TF.js', () => {
  // 3 x 2 x 2: values 0..11
  const t = tensor(Array.from({ length: 12 }, (_, i) => i), [3, 2, 2]);

  it('a number begins on the first axis and takes the rest, as a view', () => {
    const s = t.slice(1);
    expect(s.shape).toEqual([2, 2, 2]);
    expect(Array.from(s.dataSync())).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    expect(s.storage.buffer).toBe(t.storage.buffer);
  });

  it('number begin and number size slice the first axis', () => {
    const s = t.slice(1, 1);
    expect(s.shape).toEqual([1, 2, 2]);
    expect(Array.from(s.dataSync())).toEqual([4, 5, 6, 7]);
  });

  it('arrays slice several axes; -1 takes the rest of an axis; missing entries take everything', () => {
    const s = t.slice([0, 1, 0], [2, -1, 1]);
    expect(s.shape).toEqual([2, 1, 1]);
    expect(Array.from(s.dataSync())).toEqual([2, 6]);
    expect(t.slice([1, 0, 1], [-1, 2, 1]).arraySync()).toEqual([[[5], [7]], [[9], [11]]]);
    expect(t.slice([2]).shape).toEqual([1, 2, 2]);
    expect(Array.from(t.slice([0, 1]).dataSync())).toEqual([2, 3, 6, 7, 10, 11]);
  });

  it('keeps uint8 storage and its scale', () => {
    const u = new Tensor(Uint8Array.from([0, 255, 51, 102]), [2, 2], 'float32', 1 / 255);
    const s = u.slice([0, 1], [2, 1]);
    expect(s.storage).toBeInstanceOf(Uint8Array);
    expect(Array.from(s.dataSync())).toEqual([1, Math.fround(0.4)]);
  });

  it('rejects out-of-range and malformed slices', () => {
    expect(caught(() => t.slice(3, 1)).code).toBe('CNN_ERR_BAD_SLICE');
    expect(caught(() => t.slice([0, 0, 0], [4, -1, -1])).code).toBe('CNN_ERR_BAD_SLICE');
    expect(caught(() => t.slice([0, 0, 0, 0])).code).toBe('CNN_ERR_BAD_SLICE');
    expect(caught(() => t.slice(-1)).code).toBe('CNN_ERR_BAD_SLICE');
    expect(caught(() => t.slice(0.5)).code).toBe('CNN_ERR_BAD_SLICE');
    expect(caught(() => scalar(1).slice(0)).code).toBe('CNN_ERR_BAD_SLICE');
    expect(() => t.slice(3, 1)).toThrow(/out of bounds on axis 0 of shape \[3, 2, 2\]/);
  });
});
