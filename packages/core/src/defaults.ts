/** Every default of the library in one place, each with the reason for its value. */
export const DEFAULTS = {
  /** Seed of initial weights, shuffling and dropout when none is given. */
  seed: 1,
  /** Keras' and TF.js' default batch size for fit, evaluate and predict. */
  batchSize: 32,
  epochs: 1,
  /**
   * Samples per micro-shard, the leaf of the reduction tree. It fixes the arithmetic of a step, so it
   * is a training setting and never follows the thread or host count. 8 lets a batch of 32 spread
   * over 4 threads; see BENCHMARKS.md for its measured cost.
   */
  microBatchSize: 8,
  /** Samples per forward pass when evaluating or predicting on one thread. */
  inferenceChunk: 256,
  /** Longest stretch fit runs without letting the event loop turn (timers, signals, progress). */
  yieldEveryMs: 50,
} as const;

