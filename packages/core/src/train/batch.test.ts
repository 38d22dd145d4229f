import { describe, expect, it } from 'vitest';
import { referenceKernels } from '../kernels/reference.js';
import { processKernels } from '../kernels/select.js';
import { processHeap } from '../memory/process-heap.js';
import { Tensor, byteLut } from '../tensor.js';
import { type InputBuffers, gatherInputs } from './batch.js';

const ROW = 28 * 28 + 3; // not a multiple of the SIMD width: every row has a scalar tail
const SAMPLES = 40;

function pixels(): Tensor {
  const bytes = new Uint8Array(new SharedArrayBuffer(SAMPLES * ROW));
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + (i >> 7)) & 0xff;
  return new Tensor(bytes, [SAMPLES, ROW], 'float32', 1 / 255);
}

function buffers(kernels: InputBuffers['kernels'], capacity: number): InputBuffers {
  const heap = processHeap();
  return { input: heap.f32(capacity * ROW), inputBytes: heap.u8(capacity * ROW), kernels };
}

describe('gatherInputs', () => {
  const x = pixels();
  const lut = byteLut(x.scale);
  const indices = Int32Array.from({ length: SAMPLES }, (_, i) => (i * 17 + 5) % SAMPLES);

  for (const [name, kernels] of [['fast kernels', processKernels()], ['reference kernels', referenceKernels]] as const) {
    it(`turns uint8 samples into their byteLut floats, in index order and in natural order (${name})`, () => {
      const to = buffers(kernels, 8);
      gatherInputs(x, indices, 12, 8, to);
      for (let s = 0; s < 8; s++) {
        for (let j = 0; j < ROW; j++) expect(to.input[s * ROW + j]).toBe(lut[x.storage[indices[12 + s] * ROW + j] as number]);
      }
      gatherInputs(x, null, 31, 5, to);
      for (let s = 0; s < 5; s++) {
        for (let j = 0; j < ROW; j++) expect(to.input[s * ROW + j]).toBe(lut[x.storage[(31 + s) * ROW + j] as number]);
      }
    });
  }

  it('copies float32 samples as they are', () => {
    const values = new Float32Array(SAMPLES * ROW).map((_, i) => Math.sin(i));
    const f = new Tensor(values, [SAMPLES, ROW], 'float32');
    const to = buffers(processKernels(), 4);
    gatherInputs(f, indices, 0, 4, to);
    for (let s = 0; s < 4; s++) expect(to.input.subarray(s * ROW, (s + 1) * ROW)).toEqual(values.subarray(indices[s] * ROW, (indices[s] + 1) * ROW));
  });
});
