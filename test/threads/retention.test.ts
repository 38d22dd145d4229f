import { GCProfiler } from 'node:v8';
import { Sequential, type Strategy, type Tensor, layers, singleThread, tensor } from '@cnn/core';
import { threads } from '@cnn/worker';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../packages/core/src/testing/mulberry.js';
import { liveHeap } from '../helpers.js';

/** 16,000 random 4x4 samples of 3 classes and a dense softmax over them: steps of a few microseconds. */
function tinyTraining(seed: number): { x: Tensor; y: Tensor; model: Sequential } {
  const rows = 16_000;
  const random = mulberry32(seed);
  const x = tensor(Float32Array.from({ length: rows * 16 }, random), [rows, 4, 4, 1]);
  const y = tensor(Float32Array.from({ length: rows }, (_, i) => i % 3), [rows]);
  const model = new Sequential();
  model.add(layers.flatten({ inputShape: [4, 4, 1] }));
  model.add(layers.dense({ units: 3, activation: 'softmax' }));
  model.compile({ loss: 'sparse_categorical_crossentropy', optimizer: 'adam' });
  return { x, y, model };
}

// A training of many epochs runs hundreds of thousands of steps through the pool: whatever a step
// leaves reachable (a reaction on a promise that lives as long as the pool, a timing kept per step)
// grows the heap for the whole run. Tiny steps: 8000 of them take under a second.
describe('a long training through the pool', () => {
  it('keeps no memory per step', async () => {
    // 1000 steps an epoch: what an epoch keeps (History's row, the epoch order) is not in question.
    const { x, y, model } = tinyTraining(7);

    const heapAt = new Map<number, number>();
    const measured = [2000, 8000];
    let steps = 0;
    await model.fit(x, y, {
      batchSize: 16, microBatchSize: 8, epochs: 8, maxSteps: 8000, seed: 3, strategy: threads(2),
      callbacks: [{ onBatchEnd: () => { if (measured.includes(++steps)) heapAt.set(steps, liveHeap()); } }],
    });

    expect(steps).toBe(8000);
    // What is left grows by a few tens of KB early on (V8's type feedback and code) and flattens; a
    // reaction left on a long-lived promise (with its closures, a few hundred bytes) per step would
    // be well over 512 KB in 6000 steps (it was 3.5 MB before the pool's waits stopped racing one).
    const growth = heapAt.get(8000)! - heapAt.get(2000)!;
    expect(growth, `the live heap grew by ${growth} bytes over 6000 steps`).toBeLessThan(512 * 1024);
  });

  // What a step allocates (and the young generation then collects) is the step's own garbage: the
  // loop's bookkeeping, promises, the pool's command. Layers and kernels allocate nothing. Measured
  // on the main thread with V8's GC profiler (heap used before each collection minus after the one
  // before): 3.8 KB a step on one thread, 11-12 KB through the pool (2026-11-29). A wrapper that
  // builds arrays per kernel call was 120 KB; the bounds catch that, not noise.
  for (const [name, strategy, boundKb] of [['the single-thread strategy', () => singleThread(), 12], ['threads(2), the main thread', () => threads(2), 32]] as const) {
    it(`allocates a bounded amount per step: ${name}`, async () => {
      const { x, y, model } = tinyTraining(11);
      // After 1,000 warm-up steps, 5,000 measured ones.
      const warm = 1000;
      const steps = 6000;
      let done = 0;
      const profiler = new GCProfiler();
      let usedAtStart = 0;
      await model.fit(x, y, {
        batchSize: 16, microBatchSize: 8, epochs: 10, maxSteps: steps, seed: 3, strategy: strategy() as Strategy,
        callbacks: [{ onBatchEnd: () => { if (++done === warm) { profiler.start(); usedAtStart = process.memoryUsage().heapUsed; } } }],
      });
      const usedAtEnd = process.memoryUsage().heapUsed;
      const { statistics } = profiler.stop();
      let allocated = 0;
      let after = usedAtStart;
      for (const gc of statistics) {
        allocated += gc.beforeGC.heapStatistics.usedHeapSize - after;
        after = gc.afterGC.heapStatistics.usedHeapSize;
      }
      allocated += usedAtEnd - after;
      const perStep = allocated / (steps - warm);
      expect(perStep, `${Math.round(perStep)} bytes a step`).toBeLessThan(boundKb * 1024);
      expect(perStep).toBeGreaterThan(0);
    });
  }
});
