import { describe, expect, it } from 'vitest';
import { KernelHeap } from '../../memory/kernel-heap.js';
import { dropoutBackward, dropoutForward } from '../dropout.js';
import { createWasmKernels } from './node.js';

// Dropout masks must be the same bits on every kernel set: they decide which values train.
describe('WASM dropout', () => {
  it('draws the reference mask and values, bit for bit, wherever the stream starts', () => {
    const heap = KernelHeap.create(1 << 20);
    const k = createWasmKernels(heap);
    const count = 1603;
    const x = heap.f32(count);
    for (let i = 0; i < count; i++) x[i] = Math.sin(i) * 3;
    const cases = [
      { rate: 0.5, seed: 1, layer: 5, step: 0, first: 0 },
      { rate: 0.25, seed: 7, layer: 2, step: 41, first: 3 }, // a stream starting mid-block
      { rate: 0.9, seed: 2 ** 40 + 3, layer: 0, step: 2 ** 31 + 5, first: 1600 * 255 + 2 },
      { rate: 0.5, seed: 3, layer: 1, step: 9, first: 4 * 2 ** 33 + 1 }, // a block index past 32 bits
    ];
    for (const c of cases) {
      const yRef = new Float32Array(count);
      const keepRef = new Uint8Array(count);
      dropoutForward(x, yRef, keepRef, count, c.rate, c.seed, c.layer, c.step, c.first);
      const y = heap.f32(count);
      const keep = heap.u8(count);
      k.dropoutForward(x, y, keep, count, c.rate, c.seed, c.layer, c.step, c.first);
      expect(Array.from(keep), JSON.stringify(c)).toEqual(Array.from(keepRef));
      expect(Array.from(y), JSON.stringify(c)).toEqual(Array.from(yRef));
      const kept = keep.reduce((a, b) => a + b, 0) / count;
      expect(Math.abs(kept - (1 - c.rate))).toBeLessThan(0.05);

      const dxRef = new Float32Array(count);
      dropoutBackward(x, dxRef, keepRef, count, c.rate);
      const dx = heap.f32(count);
      k.dropoutBackward(x, dx, keep, count, c.rate);
      expect(Array.from(dx)).toEqual(Array.from(dxRef));
    }
  });
});
